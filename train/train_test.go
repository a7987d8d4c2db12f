package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lstmq/lstmq/checkpoint"
	"github.com/lstmq/lstmq/corpus"
	"github.com/lstmq/lstmq/eval"
	"github.com/lstmq/lstmq/internal/parallel"
	"github.com/lstmq/lstmq/model"
)

// grammarCorpus writes a corpus of sentences from a small grammar,
//
//	S → DET [ADJ] NOUN VERB PREP DET NOUN .
//
// (8 nouns, 6 verbs, …, 29 words with <eos>), so that a model can learn
// much of it in a few epochs: the next word's class is nearly determined.
func grammarCorpus(t *testing.T, lines [3]int) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(42, 0))
	det := []string{"the", "a", "every"}
	adj := []string{"red", "small", "old", "happy"}
	noun := []string{"cat", "dog", "bird", "man", "house", "tree", "car", "boat"}
	verb := []string{"sees", "likes", "finds", "hits", "wants", "has"}
	prep := []string{"near", "under", "behind", "with"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	for i, name := range []string{"train.txt", "valid.txt", "test.txt"} {
		var sb strings.Builder
		for range lines[i] {
			w := []string{pick(det)}
			if rng.IntN(2) == 0 {
				w = append(w, pick(adj))
			}
			w = append(w, pick(noun), pick(verb), pick(prep), pick(det), pick(noun), ".")
			sb.WriteString(strings.Join(w, " ") + "\n")
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func evalLoss(p *model.Params, data []int32, bptt int) float64 {
	ev := &eval.Evaluator{Model: model.New(*p, 0), BPTT: bptt}
	r, err := ev.Run(context.Background(), corpus.Batchify(data, EvalBatchSize))
	if err != nil {
		panic(err) // the tests' own corpora
	}
	return r.Loss
}

func TestTrainLowersValidLoss(t *testing.T) {
	dir := grammarCorpus(t, [3]int{1200, 150, 150})
	c, err := corpus.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Defaults()
	cfg.EmSize, cfg.NHid, cfg.NLayers, cfg.Tied = 16, 16, 2, true
	cfg.Epochs, cfg.BatchSize, cfg.BPTT, cfg.Dropout, cfg.LogInterval = 3, 8, 20, 0.1, 20
	cfg.Save = filepath.Join(t.TempDir(), "best.pth")
	init, err := InitParams(cfg, c.Dict.Len(), rand.New(rand.NewPCG(cfg.Seed, 0x696e6974)))
	if err != nil {
		t.Fatal(err)
	}
	before := evalLoss(init, c.Valid, cfg.BPTT)
	var log bytes.Buffer
	best, sum, err := Train(context.Background(), c, cfg, &log)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("valid loss %.3f → %.3f, test %.3f, %.0f words/s\n%s", before, sum.BestValidLoss, sum.TestLoss, sum.WordsPerSecond, log.String())
	// Untrained, the loss is near log(29) = 3.37. The grammar's entropy is
	// 10.9 nats per sentence of 8.5 tokens on average (each slot's choice is
	// uniform: log 3 for a determiner, log 8 for a noun, …), 1.28 nats per
	// token, and three epochs get most of the way there (1.49 measured):
	// ask for a drop of at least 1.2 nats.
	if before-sum.BestValidLoss < 1.2 {
		t.Errorf("valid loss %.3f → %.3f: dropped by less than 1.2", before, sum.BestValidLoss)
	}
	if got := evalLoss(best, c.Valid, cfg.BPTT); got != sum.BestValidLoss {
		t.Errorf("returned model's valid loss %v, summary says %v", got, sum.BestValidLoss)
	}
	if !tiedParams(best) {
		t.Error("returned model is not tied")
	}
	saved, err := LoadParams(cfg.Save, "")
	if err != nil {
		t.Fatal(err)
	}
	if !tiedParams(saved) || evalLoss(saved, c.Test, cfg.BPTT) != sum.TestLoss {
		t.Errorf("saved model: tied %v, test loss %v, want %v", tiedParams(saved), evalLoss(saved, c.Test, cfg.BPTT), sum.TestLoss)
	}
	// main.py's log format.
	steps := corpus.Batchify(c.Train, cfg.BatchSize).Steps
	lines := []*regexp.Regexp{
		regexp.MustCompile(fmt.Sprintf(`(?m)^\| epoch   1 \|    20/%5d batches \| lr 20\.00 \| ms/batch [ \d]{2,}\.\d\d \| loss [ \d]\d\.\d\d \| ppl [ \d]{5,}\.\d\d$`, steps/cfg.BPTT)),
		regexp.MustCompile(`(?m)^-{89}\n\| end of epoch   3 \| time: [ \d]{2,}\.\d\ds \| valid loss [ \d]\d\.\d\d \| valid ppl [ \d]{5,}\.\d\d\n-{89}$`),
		regexp.MustCompile(`(?m)^={89}\n\| End of training \| test loss [ \d]\d\.\d\d \| test ppl [ \d]{5,}\.\d\d\n={89}\n\z`),
	}
	for _, re := range lines {
		if !re.MatchString(log.String()) {
			t.Errorf("log does not match %s", re)
		}
	}
}

// cancelOn cancels a context when the log receives a line containing s.
type cancelOn struct {
	bytes.Buffer
	s      string
	cancel func()
}

func (w *cancelOn) Write(b []byte) (int, error) {
	if bytes.Contains(b, []byte(w.s)) {
		w.cancel()
	}
	return w.Buffer.Write(b)
}

func TestTrainInterrupt(t *testing.T) {
	dir := grammarCorpus(t, [3]int{300, 40, 40})
	c, err := corpus.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Defaults()
	cfg.EmSize, cfg.NHid, cfg.NLayers = 8, 8, 1
	cfg.Epochs, cfg.BatchSize, cfg.BPTT, cfg.LogInterval = 5, 4, 10, 5
	cfg.Save = filepath.Join(t.TempDir(), "best.pth")

	// Ctrl-C during epoch 2: epoch 1's model is kept and tested.
	ctx, cancel := context.WithCancel(context.Background())
	log := &cancelOn{s: "| epoch   2 |    10/", cancel: cancel}
	best, sum, err := Train(ctx, c, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Interrupted || sum.Epochs != 1 || best == nil || math.IsNaN(sum.TestLoss) {
		t.Errorf("summary %+v", sum)
	}
	out := log.String()
	if !strings.Contains(out, "|    10/") || !strings.Contains(out, "-\nExiting from training early\n=") || strings.Contains(out, "end of epoch   2") {
		t.Errorf("log:\n%s", out)
	}
	if _, err := os.Stat(cfg.Save); err != nil {
		t.Error(err)
	}

	// Ctrl-C in epoch 1: nothing to keep.
	ctx, cancel = context.WithCancel(context.Background())
	cfg.Save = filepath.Join(t.TempDir(), "none.pth")
	_, _, err = Train(ctx, c, cfg, &cancelOn{s: "|     5/", cancel: cancel})
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("error %v", err)
	}
	if _, err := os.Stat(cfg.Save); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat %s: %v", cfg.Save, err)
	}
}

func TestTrainErrors(t *testing.T) {
	dir := grammarCorpus(t, [3]int{50, 10, 10})
	c, err := corpus.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Defaults()
	cfg.EmSize, cfg.NHid, cfg.Tied = 8, 10, true
	if _, _, err := Train(context.Background(), c, cfg, &bytes.Buffer{}); !errors.Is(err, ErrTiedSize) {
		t.Errorf("tied 8/10: %v", err)
	}
	cfg = Defaults()
	cfg.Kind = model.RNNReLU + 1
	if _, _, err := Train(context.Background(), c, cfg, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "unknown model type") {
		t.Errorf("kind %v: %v", cfg.Kind, err)
	}
	for _, k := range []model.Kind{model.GRU, model.RNNTanh, model.RNNReLU} {
		cfg = Defaults()
		cfg.Kind, cfg.EmSize, cfg.NHid, cfg.Tied = k, 8, 10, true
		if _, _, err := Train(context.Background(), c, cfg, &bytes.Buffer{}); !errors.Is(err, ErrTiedSize) {
			t.Errorf("%v tied 8/10: %v", k, err)
		}
	}
	cfg = Defaults()
	cfg.Dropout = 1
	if _, _, err := Train(context.Background(), c, cfg, &bytes.Buffer{}); err == nil {
		t.Error("dropout 1 accepted")
	}
	cfg = Defaults()
	cfg.Init, _ = InitParams(Config{EmSize: 4, NHid: 4, NLayers: 1}, c.Dict.Len()+1, rand.New(rand.NewPCG(1, 1)))
	if _, _, err := Train(context.Background(), c, cfg, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "tokens") {
		t.Errorf("vocabulary mismatch: %v", err)
	}
}

// TestDeterministic runs training steps of each model type with 1 and 3
// threads, with the kernel and the Go paths, and wants bit-identical
// weights.
func TestDeterministic(t *testing.T) {
	for _, k := range []model.Kind{model.LSTM, model.GRU, model.RNNTanh, model.RNNReLU} {
		t.Run(k.String(), func(t *testing.T) { checkDeterministic(t, k) })
	}
}

func checkDeterministic(t *testing.T, kind model.Kind) {
	const V, T, B = 700, 7, 5
	run := func(threads int, kernels bool) *model.Params {
		withSIMD(t, kernels)
		rng := rand.New(rand.NewPCG(3, 4))
		p, _ := InitParams(Config{Kind: kind, EmSize: 24, NHid: 40, NLayers: 2}, V, rng)
		n := newNet(p, 0.3, 9)
		n.s.Pool = parallel.NewPool(threads)
		st := model.NewState(2, B, 40)
		ids := make([]int32, T*B)
		y := make([]int32, T*B)
		for range 3 {
			for i := range ids {
				ids[i], y[i] = int32(rng.IntN(V)), int32(rng.IntN(V))
			}
			n.step(ids, y, T, B, st, 20, 0.25)
		}
		return p
	}
	for _, kernels := range []bool{true, false} {
		a, b := tensors(run(1, kernels)), tensors(run(3, kernels))
		for i := range a {
			for j := range a[i] {
				if math.Float32bits(a[i][j]) != math.Float32bits(b[i][j]) {
					t.Fatalf("kernels=%v: tensor %d [%d]: %v with 1 thread, %v with 3", kernels, i, j, a[i][j], b[i][j])
				}
			}
		}
	}
}

var writeFixtures = flag.Bool("train.fixtures", false, "rewrite testdata/torch/train/go_*.pth (then run check_load.py)")

// goFixtures are the Go-trained checkpoints that check_load.py loads in
// PyTorch: one epoch on testdata/torch/corpus.
var goFixtures = []struct {
	name                string
	kind                model.Kind
	emsize, nhid, nlays int
	tied                bool
}{
	{"go_tied", model.LSTM, 16, 16, 2, true},
	{"go_untied", model.LSTM, 12, 16, 2, false},
	{"go_gru_tied", model.GRU, 16, 16, 2, true},
	{"go_gru_untied", model.GRU, 12, 16, 2, false},
	{"go_rnn_tanh_tied", model.RNNTanh, 16, 16, 2, true},
	{"go_rnn_relu_untied", model.RNNReLU, 12, 16, 2, false},
}

// TestGoCheckpointLoadsInPyTorch checks the committed Go-trained
// checkpoints of each model type: they round-trip through LoadParams and
// SavePth bit for bit, keep their type and tying, and their test loss
// (main.py's evaluate, batch 10, bptt 35) is the one PyTorch computed after
// load_state_dict (strict) into the example's RNNModel of that type
// (check_load.json, written by check_load.py).
func TestGoCheckpointLoadsInPyTorch(t *testing.T) {
	c, err := corpus.Load(filepath.Join("..", "testdata", "torch", "corpus"))
	if err != nil {
		t.Fatal(err)
	}
	if *writeFixtures {
		for _, f := range goFixtures {
			cfg := Defaults()
			cfg.Kind, cfg.EmSize, cfg.NHid, cfg.NLayers, cfg.Tied = f.kind, f.emsize, f.nhid, f.nlays, f.tied
			cfg.Epochs, cfg.BatchSize, cfg.LogInterval = 1, 10, 1000
			cfg.Save = filepath.Join(torchDir, f.name+".pth")
			if _, _, err := Train(context.Background(), c, cfg, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(torchDir, "check_load.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]float64
	if err := jsonUnmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for _, f := range goFixtures {
		path := filepath.Join(torchDir, f.name+".pth")
		p, err := LoadParams(path, f.kind.Nonlinearity())
		if err != nil {
			t.Fatal(err)
		}
		if p.Kind != f.kind || tiedParams(p) != f.tied || p.NInp != f.emsize || p.NHid != f.nhid || len(p.Layers) != f.nlays {
			t.Errorf("%s: %v, tied %v, %d/%d/%d", f.name, p.Kind, tiedParams(p), p.NInp, p.NHid, len(p.Layers))
		}
		re := filepath.Join(t.TempDir(), "re.pth")
		if err := checkpoint.SavePth(re, p); err != nil {
			t.Fatal(err)
		}
		q, err := LoadParams(re, f.kind.Nonlinearity())
		if err != nil {
			t.Fatal(err)
		}
		if q.Kind != f.kind || tiedParams(q) != f.tied {
			t.Errorf("%s: re-saved file: %v, tied %v", f.name, q.Kind, tiedParams(q))
		}
		pt, qt := tensors(p), tensors(q)
		for i := range pt {
			for j := range pt[i] {
				if math.Float32bits(pt[i][j]) != math.Float32bits(qt[i][j]) {
					t.Fatalf("%s: re-saved tensor %d [%d] = %v, was %v", f.name, i, j, qt[i][j], pt[i][j])
				}
			}
		}
		// The loss is a mean of float32 log-softmaxes computed in another
		// order than PyTorch's; 1e-5 is ~100 ulp of a loss near 5.
		got := evalLoss(p, c.Test, 35)
		if w, ok := want[f.name]; !ok || math.Abs(got-w) > 1e-5 {
			t.Errorf("%s: test loss %.7f, PyTorch %.7f (present: %v)", f.name, got, w, ok)
		}
		t.Logf("%s (%v): test loss %.7f, PyTorch %.7f, difference %.2g", f.name, f.kind, got, want[f.name], got-want[f.name])
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// TestPlateau runs main.py's rule on a scripted sequence of validation
// losses: lr is divided by 4 after every epoch that does not beat the best.
func TestPlateau(t *testing.T) {
	p := plateau{lr: 20}
	for i, c := range []struct {
		val  float64
		best bool
		lr   float64
	}{{5, true, 20}, {4, true, 20}, {4.5, false, 5}, {4, false, 1.25}, {3.9, true, 1.25}, {math.NaN(), false, 0.3125}} {
		if got := p.epoch(c.val); got != c.best || p.lr != c.lr {
			t.Errorf("epoch %d (valid loss %v): best %v, lr %v; want %v, %v", i+1, c.val, got, p.lr, c.best, c.lr)
		}
	}
}
