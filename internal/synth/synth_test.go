package synth

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// small is a quick configuration for tests that do not need statistics.
var small = Config{Seed: 7, Vocab: 500, TrainWords: 5000, ValidWords: 1000, TestWords: 1000}

func gen(t testing.TB, cfg Config, s Split) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, cfg, s); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tokens splits text the way the PyTorch word_language_model corpus does:
// whitespace-separated words plus "<eos>" at the end of every line.
func tokens(text []byte) []string {
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(string(text), "\n"), "\n") {
		out = append(out, strings.Fields(line)...)
		out = append(out, "<eos>")
	}
	return out
}

func TestGenerateFiles(t *testing.T) {
	dir := t.TempDir()
	if err := Generate(dir, small); err != nil {
		t.Fatal(err)
	}
	for _, s := range []Split{Train, Valid, Test} {
		got, err := os.ReadFile(filepath.Join(dir, s.String()+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		if want := gen(t, small, s); !bytes.Equal(got, want) {
			t.Errorf("%s.txt differs from Write's output", s)
		}
		n := len(strings.Fields(string(got)))
		if min := small.words(s); n < min || n > min+1500 {
			t.Errorf("%s.txt has %d tokens, want about %d", s, n, min)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 3 {
		t.Errorf("dir holds %d entries, want 3", len(ents))
	}
}

// TestGolden pins the generator's output. Its hash changes only when the
// lexicon, the grammar or the random streams change, and that must be
// deliberate: it changes the built-in corpus and every number measured on it.
// It also catches platform dependence, since CI runs it on every platform.
func TestGolden(t *testing.T) {
	const want = "1cf19b0e9310957905aaeb784b60dd752554c588e2baa6177ff428503363b29e"
	h := sha256.New()
	for _, s := range []Split{Train, Valid, Test} {
		h.Write(gen(t, small, s))
	}
	got := hex.EncodeToString(h.Sum(nil))
	if got != want {
		t.Errorf("corpus hash = %s, want %s", got, want)
	}
}

func TestDeterminism(t *testing.T) {
	a := gen(t, small, Valid)
	b := gen(t, small, Valid)
	if !bytes.Equal(a, b) {
		t.Fatal("same config gave different text")
	}
	other := small
	other.Seed++
	if bytes.Equal(a, gen(t, other, Valid)) {
		t.Error("different seeds gave the same text")
	}
	// A split does not depend on the sizes of the others.
	bigger := small
	bigger.TrainWords *= 2
	if !bytes.Equal(a, gen(t, bigger, Valid)) {
		t.Error("valid.txt changed with the size of train.txt")
	}
	if bytes.Equal(a, gen(t, small, Test)) {
		t.Error("valid and test are the same")
	}
}

func TestVocabulary(t *testing.T) {
	for _, v := range []int{MinVocab, 500, 3000, 20000} {
		cfg := small
		cfg.Vocab = v
		voc, err := Vocabulary(cfg)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, w := range voc {
			if seen[w] {
				t.Fatalf("vocab %d: %q twice", v, w)
			}
			if w == "" || strings.ContainsAny(w, " \t\n") {
				t.Fatalf("vocab %d: bad token %q", v, w)
			}
			seen[w] = true
		}
		if len(voc) != v {
			t.Errorf("Vocabulary has %d tokens, want %d", len(voc), v)
		}
	}
	for _, v := range []int{MinVocab - 1, MaxVocab + 1, -5} {
		cfg := small
		cfg.Vocab = v
		if _, err := Vocabulary(cfg); err == nil {
			t.Errorf("vocab %d accepted", v)
		}
		if err := Generate(t.TempDir(), cfg); err == nil {
			t.Errorf("Generate with vocab %d succeeded", v)
		}
	}
	if err := Generate(filepath.Join(t.TempDir(), "missing"), small); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Generate into a missing dir: %v, want an error naming it", err)
	}
}

// stats holds what TestStatistics measures, in nats.
type stats struct {
	vocab     int     // distinct tokens in train (with <eos>)
	h1        float64 // unigram entropy of train
	h2        float64 // conditional entropy H(w_i | w_{i-1}) of train (plug-in)
	ppl1      float64 // add-k unigram perplexity on valid
	ppl2      float64 // add-k bigram perplexity on valid
	oov       int     // valid tokens unseen in train
	trainToks int
}

func measure(train, valid []string, k float64, V int) stats {
	var st stats
	st.trainToks = len(train)
	uni := map[string]float64{}
	big := map[[2]string]float64{}
	for i, w := range train {
		uni[w]++
		if i > 0 {
			big[[2]string{train[i-1], w}]++
		}
	}
	st.vocab = len(uni)
	n := float64(len(train))
	for _, c := range uni {
		st.h1 -= c / n * math.Log(c/n)
	}
	// H(W_i | W_{i-1}) = −Σ p(a,b) log p(b|a), p(b|a) = c(a,b)/c(a as a predecessor).
	prev := map[string]float64{}
	for ab, c := range big {
		prev[ab[0]] += c
	}
	for ab, c := range big {
		st.h2 -= c / (n - 1) * math.Log(c/prev[ab[0]])
	}
	// Add-k smoothed perplexities on valid over a vocabulary of V types.
	var nll1, nll2 float64
	for i, w := range valid {
		if uni[w] == 0 {
			st.oov++
		}
		nll1 -= math.Log((uni[w] + k) / (n + k*float64(V)))
		if i > 0 {
			a := valid[i-1]
			nll2 -= math.Log((big[[2]string{a, w}] + k) / (prev[a] + k*float64(V)))
		}
	}
	st.ppl1 = math.Exp(nll1 / float64(len(valid)))
	st.ppl2 = math.Exp(nll2 / float64(len(valid)-1))
	return st
}

// TestStatistics checks that the default corpus is far from uniform text: a
// bigram model predicts it far better than chance, so it has structure a
// small LSTM can learn.
func TestStatistics(t *testing.T) {
	if testing.Short() {
		t.Skip("generates the full default corpus")
	}
	cfg := DefaultConfig()
	train, valid := tokens(gen(t, cfg, Train)), tokens(gen(t, cfg, Valid))
	V := cfg.Vocab + 1 // + <eos>
	st := measure(train, valid, 0.01, V)
	logV := math.Log(float64(V))
	t.Logf("train %d tokens (with <eos>), valid %d; %d types in train of %d", st.trainToks, len(valid), st.vocab, V)
	t.Logf("log V = %.3f nats; H1 = %.3f nats (ppl %.0f); H(w|prev) = %.3f nats (ppl %.0f)",
		logV, st.h1, math.Exp(st.h1), st.h2, math.Exp(st.h2))
	t.Logf("valid, add-0.01: unigram ppl %.1f, bigram ppl %.1f; %d valid tokens unseen in train", st.ppl1, st.ppl2, st.oov)

	if st.trainToks < 190_000 || st.trainToks > 230_000 {
		t.Errorf("train has %d tokens, want about 200k", st.trainToks)
	}
	if st.vocab > V || st.vocab < V*9/10 {
		t.Errorf("train has %d types, want between %d and %d", st.vocab, V*9/10, V)
	}
	if st.h1 > logV-0.5 {
		t.Errorf("unigram entropy %.3f too close to log V = %.3f", st.h1, logV)
	}
	if st.h2 > logV-2 {
		t.Errorf("bigram conditional entropy %.3f not well below log V = %.3f", st.h2, logV)
	}
	if st.ppl2 > float64(V)/8 {
		t.Errorf("bigram perplexity on valid %.1f not far below V = %d", st.ppl2, V)
	}
	if st.ppl2 > st.ppl1*0.6 {
		t.Errorf("bigram perplexity %.1f barely beats unigram %.1f", st.ppl2, st.ppl1)
	}
}

func TestFormat(t *testing.T) {
	text := string(gen(t, small, Train))
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	headings := 0
	for i, l := range lines {
		if !strings.HasPrefix(l, " ") || !strings.HasSuffix(l, " ") {
			t.Fatalf("line %d %q does not start and end with a space", i+1, l)
		}
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if f[0] == "=" {
			headings++
			if f[len(f)-1] != "=" {
				t.Errorf("line %d: heading %q not closed", i+1, l)
			}
			if i+1 < len(lines) && lines[i+1] != " " {
				t.Errorf("line %d: heading not followed by a blank line", i+1)
			}
			continue
		}
		if f[len(f)-1] != "." {
			t.Errorf("line %d: paragraph does not end with '.': %q", i+1, l)
		}
	}
	if headings == 0 {
		t.Error("no headings")
	}
}

func BenchmarkGenerate(b *testing.B) {
	cfg := Config{Seed: 1, Vocab: 3000, TrainWords: 50_000, ValidWords: 1, TestWords: 1}
	b.SetBytes(int64(len(gen(b, cfg, Train))))
	b.ReportAllocs()
	for b.Loop() {
		Write(discard{}, cfg, Train)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
