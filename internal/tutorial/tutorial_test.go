package tutorial

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lstmq/lstmq/internal/synth"
	"github.com/lstmq/lstmq/train"
)

// TestDefaultEndToEnd runs the built-in default at small sizes: a small
// synthetic corpus and a tiny model trained for a few dozen batches.
func TestDefaultEndToEnd(t *testing.T) {
	dir := t.TempDir()
	tc := train.Defaults()
	tc.EmSize, tc.NHid, tc.NLayers, tc.Tied, tc.Epochs, tc.Dropout, tc.LogInterval = 32, 32, 2, true, 1, 0, 20
	tc.BPTT, tc.BatchSize = 20, 10
	opt := Options{
		WorkDir: dir,
		Synth:   synth.Config{Seed: 3, Vocab: 300, TrainWords: 30000, ValidWords: 3000, TestWords: 3000},
		Train:   tc,
		Words:   120,
		JSON:    filepath.Join(dir, "t.json"),
		Chart:   filepath.Join(dir, "t.svg"),
	}
	var out strings.Builder
	sum, err := Run(context.Background(), opt, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		"LSTMModel(\n  (drop): Dropout(p=0.0, inplace=False)\n  (encoder): Embedding(",
		"(rnn): LSTM(32, 32, num_layers=2)",
		"| Generated 0/120 words\n| Generated 100/120 words\n",
		"(rnn): DynamicQuantizedLSTM(32, 32, num_layers=2)",
		"qscheme=torch.per_tensor_affine)",
		"Size (MB): ",
		"loss: ", "elapsed time (seconds): ",
		"int8 vs fp32",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if n := strings.Count(text, "Size (MB): "); n != 2 {
		t.Errorf("%d Size lines, want 2", n)
	}
	raw, err := os.ReadFile(opt.JSON)
	if err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	if err := json.Unmarshal(raw, &j); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"fp32", "int8", "size_ratio", "loss_delta", "time_ratio", "vocabulary", "valid_perplexity"} {
		if _, ok := j[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if !(sum.Int8.SizeMB < sum.FP32.SizeMB) {
		t.Errorf("int8 size %v not below fp32 %v", sum.Int8.SizeMB, sum.FP32.SizeMB)
	}
	for _, l := range []float64{sum.FP32.Loss, sum.Int8.Loss} {
		if math.IsNaN(l) || math.IsInf(l, 0) || l <= 0 {
			t.Errorf("loss %v", l)
		}
	}
	// int8 noise on a trained model moves the loss by about 1e-3; 0.05
	// would mean a broken quantized path.
	if math.Abs(sum.LossDelta) > 0.05 {
		t.Errorf("int8 loss %v vs fp32 %v", sum.Int8.Loss, sum.FP32.Loss)
	}
	// Training must have learnt something: below a uniform guess.
	if !(sum.ValidPPL < float64(sum.Vocabulary)/2) {
		t.Errorf("validation perplexity %v, vocabulary %d", sum.ValidPPL, sum.Vocabulary)
	}
	gen, err := os.ReadFile(filepath.Join(dir, "out.txt"))
	if err != nil || strings.Count(string(gen), "\n") != 6 {
		t.Errorf("out.txt: %v, %d lines", err, strings.Count(string(gen), "\n"))
	}
	if st, err := os.Stat(opt.Chart); err != nil || st.Size() < 1000 {
		t.Errorf("chart: %v", err)
	}
}
