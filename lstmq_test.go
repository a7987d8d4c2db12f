package lstmq_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lstmq/lstmq"
	"github.com/lstmq/lstmq/generate"
	"github.com/lstmq/lstmq/model"
)

var (
	torchDir  = filepath.Join("testdata", "torch")
	corpusDir = filepath.Join(torchDir, "corpus")
)

func open(t testing.TB, scheme string, opts ...lstmq.Option) *lstmq.Model {
	t.Helper()
	m, err := lstmq.Open(filepath.Join(torchDir, "deep.pth"), append([]lstmq.Option{lstmq.WithVocabulary(corpusDir)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if scheme == "fp32" {
		return m
	}
	q, err := m.Quantize(scheme)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// heldOut returns the lines of the fixture's test split, blank ones included.
func heldOut(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpusDir, "test.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// TestBatchedEqualsOneAtATime scores the held-out lines in batches of 16
// and one at a time. fp32 must agree within 1e-5 per sentence (the rows of
// a batch are independent products; only the summation order of the
// kernels' blocks may differ). int8 quantizes the activations over the
// whole batch, as PyTorch does, so it may differ more: the bound below is
// what this fixture shows (measured max 2e-3), with room.
func TestBatchedEqualsOneAtATime(t *testing.T) {
	lines := heldOut(t)
	for _, c := range []struct {
		scheme string
		tol    float64
	}{{"fp32", 1e-5}, {"pytorch", 0.05}, {"channel-act8", 0.05}} {
		one := open(t, c.scheme, lstmq.WithBatchSize(1), lstmq.WithThreads(1)).NewSession()
		many := open(t, c.scheme, lstmq.WithBatchSize(16), lstmq.WithThreads(1)).NewSession()
		r1, err := one.Score(context.Background(), lines)
		if err != nil {
			t.Fatal(err)
		}
		r16, err := many.Score(context.Background(), lines)
		if err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		for i := range r1 {
			if len(r1[i].Tokens) != len(r16[i].Tokens) {
				t.Fatalf("%s: sentence %d: %d and %d tokens", c.scheme, i, len(r1[i].Tokens), len(r16[i].Tokens))
			}
			worst = max(worst, math.Abs(r1[i].LogProb-r16[i].LogProb))
		}
		t.Logf("%s: largest |batch 16 − batch 1| = %.3g", c.scheme, worst)
		if worst > c.tol {
			t.Errorf("%s: batched and single scores differ by %.3g > %g", c.scheme, worst, c.tol)
		}
	}
}

// TestScoreMatchesForward checks Score's per-token log-probabilities
// against the model's plain Forward over <eos> w1 … wn and a float64
// log-softmax written here.
func TestScoreMatchesForward(t *testing.T) {
	m := open(t, "fp32")
	lines := heldOut(t)[:10]
	res, err := m.NewSession().Score(context.Background(), lines)
	if err != nil {
		t.Fatal(err)
	}
	vocab := m.Vocabulary()
	id := map[string]int32{}
	for i, w := range vocab {
		id[w] = int32(i)
	}
	net, err := openNet(filepath.Join(torchDir, "deep.pth"))
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range lines {
		in := []int32{id["<eos>"]}
		for _, w := range strings.Fields(line) {
			in = append(in, id[w])
		}
		targets := append(slices.Clone(in[1:]), id["<eos>"])
		logits := make([]float32, len(in)*len(vocab))
		net.Forward(nil, logits, in, len(in), 1, net.NewState(1))
		var sum float64
		for step, y := range targets {
			row := logits[step*len(vocab) : (step+1)*len(vocab)]
			var z float64
			for _, l := range row {
				z += math.Exp(float64(l))
			}
			lp := float64(row[y]) - math.Log(z)
			if got := res[i].Tokens[step].LogProb; math.Abs(got-lp) > 1e-5 {
				t.Errorf("sentence %d token %d: %v, want %v", i, step, got, lp)
			}
			sum += lp
		}
		if math.Abs(res[i].LogProb-sum) > 1e-4 {
			t.Errorf("sentence %d: %v, want %v", i, res[i].LogProb, sum)
		}
	}
}

// TestConcurrentSessions runs 8 goroutines, each with its own session on
// one model with 2 threads, and wants the results of one goroutine.
func TestConcurrentSessions(t *testing.T) {
	lines := heldOut(t)[:24]
	for _, scheme := range []string{"fp32", "pytorch"} {
		m := open(t, scheme, lstmq.WithThreads(2), lstmq.WithBatchSize(4))
		want, err := m.NewSession().Score(context.Background(), lines)
		if err != nil {
			t.Fatal(err)
		}
		wantNext := nextAfter(t, m.NewSession(), "the")
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := m.NewSession()
				for range 3 {
					got, err := s.Score(context.Background(), lines)
					if err != nil {
						t.Error(err)
						return
					}
					for i := range got {
						if got[i].LogProb != want[i].LogProb {
							t.Errorf("%s goroutine %d: sentence %d: %v, want %v", scheme, g, i, got[i].LogProb, want[i].LogProb)
							return
						}
					}
					s.Reset()
					if got := nextAfter(t, s, "the"); !slices.Equal(got, wantNext) {
						t.Errorf("%s goroutine %d: next %v, want %v", scheme, g, got, wantNext)
					}
				}
			}()
		}
		wg.Wait()
	}
}

func nextAfter(t testing.TB, s *lstmq.Session, text string) []lstmq.Candidate {
	if err := s.Feed(context.Background(), text); err != nil {
		t.Fatal(err)
	}
	return s.Next(3)
}

// TestFeedNext checks that Next after Feed("w1 … wk") gives the
// probabilities Score gives to the word after w1 … wk, and that Next's
// candidates are the most likely words in order.
func TestFeedNext(t *testing.T) {
	m := open(t, "fp32")
	line := strings.Fields(heldOut(t)[0])
	prefix := strings.Join(line[:3], " ")
	s := m.NewSession()
	if err := s.Feed(context.Background(), prefix); err != nil {
		t.Fatal(err)
	}
	all := s.Next(m.Tokens())
	if len(all) != m.Tokens() {
		t.Fatalf("Next(all) gave %d words", len(all))
	}
	var total float64
	for i, c := range all {
		total += c.Prob
		if i > 0 && c.Prob > all[i-1].Prob {
			t.Fatalf("candidate %d (%v) more likely than %d (%v)", i, c.Prob, i-1, all[i-1].Prob)
		}
	}
	if math.Abs(total-1) > 1e-5 {
		t.Errorf("probabilities sum to %v", total)
	}
	if top := s.Next(5); !slices.Equal(top, all[:5]) {
		t.Errorf("Next(5) = %v, want %v", top, all[:5])
	}
	res, err := m.NewSession().Score(context.Background(), []string{strings.Join(line[:4], " ")})
	if err != nil {
		t.Fatal(err)
	}
	want := res[0].Tokens[3]
	for _, c := range all {
		if c.ID == want.ID {
			if math.Abs(math.Log(c.Prob)-want.LogProb) > 1e-5 {
				t.Errorf("P(%s | %s): Next %v, Score %v", want.Word, prefix, math.Log(c.Prob), want.LogProb)
			}
			return
		}
	}
	t.Errorf("word %q not among the candidates", want.Word)
}

// TestCloneReset checks that a clone and a reset session are independent
// of the session they came from.
func TestCloneReset(t *testing.T) {
	m := open(t, "pytorch")
	ctx := context.Background()
	s := m.NewSession()
	fresh := s.Next(3)
	if err := s.Feed(ctx, "the"); err != nil {
		t.Fatal(err)
	}
	afterThe := s.Next(3)
	c := s.Clone()
	if err := s.Feed(ctx, "the"); err != nil {
		t.Fatal(err)
	}
	if got := c.Next(3); !slices.Equal(got, afterThe) {
		t.Errorf("clone moved with its origin: %v, want %v", got, afterThe)
	}
	if slices.Equal(s.Next(3), afterThe) {
		t.Errorf("feeding a second word changed nothing")
	}
	s.Reset()
	if got := s.Next(3); !slices.Equal(got, fresh) {
		t.Errorf("after Reset: %v, want %v", got, fresh)
	}
	if got := c.Next(3); !slices.Equal(got, afterThe) {
		t.Errorf("Reset of the origin moved the clone: %v, want %v", got, afterThe)
	}
}

// TestScoreCancelled cancels the context of a long Score.
func TestScoreCancelled(t *testing.T) {
	m := open(t, "fp32", lstmq.WithBatchSize(1))
	lines := heldOut(t)
	long := make([]string, 0, 50*len(lines))
	for range 50 {
		long = append(long, lines...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.NewSession().Score(ctx, long); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Score: err = %v", err)
	}
}

// TestScoreErrors checks the errors of bad sentences and vocabularies.
func TestScoreErrors(t *testing.T) {
	m := open(t, "fp32", lstmq.WithMaxWords(5))
	s := m.NewSession()
	ctx := context.Background()
	if _, err := s.Score(ctx, []string{"the", "a \xff b"}); !errors.Is(err, lstmq.ErrInput) || !strings.Contains(err.Error(), "sentence 1: invalid UTF-8") {
		t.Errorf("invalid UTF-8: %v", err)
	}
	if _, err := s.Score(ctx, []string{"a b c d e f"}); !errors.Is(err, lstmq.ErrInput) {
		t.Errorf("too long: %v", err)
	}
	res, err := s.Score(ctx, []string{"", "zzzunseen the"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res[0].Tokens) != 1 || res[0].Tokens[0].Word != "<eos>" {
		t.Errorf("empty sentence: %+v", res[0])
	}
	if res[1].OOV != 1 || !res[1].Tokens[0].Unknown || res[1].Tokens[0].Word != "zzzunseen" {
		t.Errorf("unknown word: %+v", res[1])
	}
	dir := t.TempDir()
	vocab := filepath.Join(dir, "vocab.txt")
	os.WriteFile(vocab, []byte("<eos>\nthe\n"), 0o644)
	if _, err := lstmq.Open(filepath.Join(torchDir, "deep.pth"), lstmq.WithVocabulary(vocab)); !errors.Is(err, lstmq.ErrVocabulary) ||
		!strings.Contains(err.Error(), "has 2 words") {
		t.Errorf("small vocabulary: %v", err)
	}
	bare, err := lstmq.Open(filepath.Join(torchDir, "deep.pth"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bare.NewSession().Score(ctx, []string{"the"}); !errors.Is(err, lstmq.ErrVocabulary) {
		t.Errorf("no vocabulary: %v", err)
	}
	if _, err := m.Quantize("int3"); !errors.Is(err, lstmq.ErrScheme) {
		t.Errorf("bad scheme: %v", err)
	}
	q, _ := m.Quantize("pytorch")
	if _, err := q.Quantize("pytorch"); !errors.Is(err, lstmq.ErrQuantized) {
		t.Errorf("quantize twice: %v", err)
	}
}

// TestVocabularyFile opens the model with the vocabulary as a file of one
// word per line and wants the scores of the corpus folder.
func TestVocabularyFile(t *testing.T) {
	m := open(t, "fp32")
	path := filepath.Join(t.TempDir(), "vocab.txt")
	if err := os.WriteFile(path, []byte(strings.Join(m.Vocabulary(), "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mf, err := lstmq.Open(filepath.Join(torchDir, "deep.pth"), lstmq.WithVocabulary(path))
	if err != nil {
		t.Fatal(err)
	}
	lines := heldOut(t)[:5]
	a, _ := m.NewSession().Score(context.Background(), lines)
	b, err := mf.NewSession().Score(context.Background(), lines)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i].LogProb != b[i].LogProb {
			t.Errorf("sentence %d: %v with the folder, %v with the file", i, a[i].LogProb, b[i].LogProb)
		}
	}
}

// TestGenerateLikeTutorial checks that a fresh session without a prompt
// draws the words generate.Sample draws for the same seed, and that a
// prompt, top-k and top-p are taken.
func TestGenerateLikeTutorial(t *testing.T) {
	m := open(t, "fp32")
	text, err := m.NewSession().Generate(context.Background(), lstmq.GenerateOptions{Words: 30, Temperature: 1, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	net, err := openNet(filepath.Join(torchDir, "deep.pth"))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := generate.Sample(nil, net, generate.Options{Words: 30, Temperature: 1, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	vocab := m.Vocabulary()
	var want []string
	for _, id := range ids {
		want = append(want, vocab[id])
	}
	if text != strings.Join(want, " ") {
		t.Errorf("Generate = %q\nSample   = %q", text, strings.Join(want, " "))
	}
	s := m.NewSession()
	var streamed []string
	out, err := s.Generate(context.Background(), lstmq.GenerateOptions{Prompt: "the", Words: 20, TopK: 3, TopP: 0.9, Seed: 1,
		OnWord: func(w string) error { streamed = append(streamed, w); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if out != strings.Join(streamed, " ") || len(streamed) != 20 {
		t.Errorf("streamed %q, returned %q", streamed, out)
	}
	if _, err := s.Generate(context.Background(), lstmq.GenerateOptions{Words: 1, Temperature: -1}); !errors.Is(err, lstmq.ErrOption) {
		t.Errorf("negative temperature: %v", err)
	}
}

// TestStepAllocs checks that a step of a session (one word through the
// model and the decoder) allocates nothing in steady state, on one thread
// and on several.
func TestStepAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	for _, scheme := range []string{"fp32", "pytorch"} {
		for _, threads := range []int{1, 2, 3} {
			m := open(t, scheme, lstmq.WithThreads(threads))
			s := m.NewSession()
			ids := []int32{3}
			s.FeedIDs(context.Background(), ids)
			if n := testing.AllocsPerRun(50, func() { s.FeedIDs(context.Background(), ids) }); n != 0 {
				t.Errorf("%s, %d threads: %v allocations per step", scheme, threads, n)
			}
		}
	}
}

func openNet(path string) (*model.Model, error) {
	m, err := lstmq.Open(path)
	if err != nil {
		return nil, err
	}
	return lstmq.Net(m), nil
}

// TestNextBatch checks that NextBatch gives, for each context, what a
// fresh session's Feed and Next give (fp32: the same rows, within 1e-6).
func TestNextBatch(t *testing.T) {
	m := open(t, "fp32", lstmq.WithBatchSize(4))
	contexts := []string{"", "the", "plol the risdiren", "mes naith .", "the , the", "a b c d e f g"}
	got, err := m.NewSession().NextBatch(context.Background(), contexts, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range contexts {
		s := m.NewSession()
		if err := s.Feed(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		want := s.Next(3)
		for j := range want {
			if got[i][j].ID != want[j].ID || math.Abs(got[i][j].Prob-want[j].Prob) > 1e-6 {
				t.Errorf("context %q #%d: %+v, want %+v", c, j, got[i][j], want[j])
			}
		}
	}
}

// raceEnabled is set by race_test.go.
var raceEnabled bool

// TestFeedCancelledKeepsState cancels a long Feed between its chunks and
// wants the session as it was before it.
func TestFeedCancelledKeepsState(t *testing.T) {
	m := open(t, "fp32")
	s := m.NewSession()
	if err := s.Feed(context.Background(), "the"); err != nil {
		t.Fatal(err)
	}
	want := s.Next(3)
	long := strings.Repeat("the ", 1000)
	// Cancelled after two of the four chunks have run.
	ctx := &countdownCtx{Context: context.Background(), n: 2}
	if err := s.Feed(ctx, long); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled feed: %v", err)
	}
	if got := s.Next(3); !slices.Equal(got, want) {
		t.Errorf("after a cancelled feed: %v, want %v", got, want)
	}
}

// countdownCtx is a context whose Err is nil n times, then Canceled.
type countdownCtx struct {
	context.Context
	n int
}

func (c *countdownCtx) Err() error {
	if c.n > 0 {
		c.n--
		return nil
	}
	return context.Canceled
}

// TestScoreThreadsIdentical: Score on 1 to 3 threads (the pipelined loop
// from 2 on, over several batches) gives the same log-probabilities to the
// bit, in fp32 and int8; a cancelled context stops it.
func TestScoreThreadsIdentical(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(corpusDir, "test.txt"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")[:37]
	for _, scheme := range []string{"fp32", "pytorch"} {
		var want []lstmq.SentenceScore
		for threads := 1; threads <= 3; threads++ {
			got, err := open(t, scheme, lstmq.WithThreads(threads), lstmq.WithBatchSize(4)).NewSession().Score(context.Background(), lines)
			if err != nil {
				t.Fatal(err)
			}
			if threads == 1 {
				want = got
				continue
			}
			for i := range want {
				if got[i].LogProb != want[i].LogProb {
					t.Errorf("%s, %d threads: sentence %d logprob %v, one thread %v", scheme, threads, i, got[i].LogProb, want[i].LogProb)
				}
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := open(t, scheme, lstmq.WithThreads(2), lstmq.WithBatchSize(4)).NewSession().Score(ctx, lines); err != context.Canceled {
			t.Errorf("%s: cancelled Score returned %v", scheme, err)
		}
	}
}

// TestStepThreads feeds words one at a time (the step generation and
// next-word queries take, whose quantized layers run their recurrent
// products ahead on a second thread) and generates text, on 1 to 4 threads,
// and wants the same probabilities to the bit and the same words.
func TestStepThreads(t *testing.T) {
	words := strings.Fields(heldOut(t)[0] + " " + heldOut(t)[1])[:12]
	for _, scheme := range []string{"pytorch", "channel-act8"} {
		var wantNext []lstmq.Candidate
		var wantText string
		for threads := 1; threads <= 4; threads++ {
			m := open(t, scheme, lstmq.WithThreads(threads))
			s := m.NewSession()
			var got []lstmq.Candidate
			for _, w := range words {
				if err := s.Feed(context.Background(), w); err != nil {
					t.Fatal(err)
				}
				got = append(got, s.Next(3)...)
			}
			text, err := m.NewSession().Generate(context.Background(), lstmq.GenerateOptions{Words: 40, Temperature: 1, Seed: 5})
			if err != nil {
				t.Fatal(err)
			}
			if threads == 1 {
				wantNext, wantText = got, text
				continue
			}
			for i := range got {
				if got[i] != wantNext[i] {
					t.Fatalf("%s, %d threads: candidate %d is %+v, one thread gives %+v", scheme, threads, i, got[i], wantNext[i])
				}
			}
			if text != wantText {
				t.Errorf("%s, %d threads generated %q, one thread %q", scheme, threads, text, wantText)
			}
		}
	}
}
