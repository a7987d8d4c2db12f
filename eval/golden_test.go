package eval

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/lstmq/lstmq/checkpoint"
	"github.com/lstmq/lstmq/corpus"
)

// golden is what testdata/torch/gen.py records of PyTorch 1.13's run.
type golden struct {
	Files      []string `json:"files"`
	FirstChunk struct {
		Input, Target []int32
		Logits        []float64 `json:"logits"`
	} `json:"first_chunk"`
	FinalHidden struct {
		Shape []int
		H, C  []float64
	} `json:"final_hidden"`
	TestLoss    float64 `json:"test_loss"`
	Test100Loss float64 `json:"test100_loss"`
}

var torchDir = filepath.Join("..", "testdata", "torch")

// TestGoldenPyTorch compares the float32 model with PyTorch's outputs on
// the committed fixtures. Tolerances: logits and states are float32 sums
// of at most 16 products taken in another order than PyTorch's (OpenBLAS),
// so each differs by a few ulp; 1e-5 relative (plus 1e-6 absolute near
// zero) leaves room for the error carried through 3 layers and 1525 steps.
// The losses average thousands of such values: 1e-5 absolute.
func TestGoldenPyTorch(t *testing.T) {
	cp, err := corpus.Load(filepath.Join(torchDir, "corpus"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"deep", "tied"} {
		raw, err := os.ReadFile(filepath.Join(torchDir, name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var g golden
		if err := json.Unmarshal(raw, &g); err != nil {
			t.Fatal(err)
		}
		if len(g.Files) == 0 {
			t.Fatalf("%s.json lists no model files", name)
		}
		for _, file := range g.Files {
			t.Run(file, func(t *testing.T) {
				m, _, err := checkpoint.LoadPth(filepath.Join(torchDir, file), "")
				if err != nil {
					t.Fatal(err)
				}
				if m.Tokens() != cp.Dict.Len() {
					t.Fatalf("ntoken %d, dictionary %d", m.Tokens(), cp.Dict.Len())
				}
				data := corpus.Batchify(cp.Test, 1)
				x, _ := data.Get(0, 25)
				if !equalIDs(x, g.FirstChunk.Input) {
					t.Fatalf("first chunk ids differ from PyTorch's: %v vs %v", x[:5], g.FirstChunk.Input[:5])
				}
				logits := make([]float32, len(x)*m.Tokens())
				m.Forward(nil, logits, x, len(x), 1, m.NewState(1))
				if len(g.FirstChunk.Logits) != len(logits) {
					t.Fatalf("%d logits, PyTorch %d", len(logits), len(g.FirstChunk.Logits))
				}
				closeAll(t, "logits", logits, g.FirstChunk.Logits)

				st := m.NewState(1)
				e := &Evaluator{Model: m, BPTT: 25}
				r, err := e.runFrom(context.Background(), data, st)
				if err != nil {
					t.Fatal(err)
				}
				closeAll(t, "final h", st.H, g.FinalHidden.H)
				closeAll(t, "final c", st.C, g.FinalHidden.C)
				if math.Abs(r.Loss-g.TestLoss) > 1e-5 {
					t.Errorf("test loss %.8f, PyTorch %.8f", r.Loss, g.TestLoss)
				}
				if r, err = e.Run(context.Background(), data.Head(100)); err != nil {
					t.Fatal(err)
				}
				if math.Abs(r.Loss-g.Test100Loss) > 1e-5 {
					t.Errorf("test[:100] loss %.8f, PyTorch %.8f", r.Loss, g.Test100Loss)
				}
			})
		}
	}
}

func equalIDs(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func closeAll(t *testing.T, what string, got []float32, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, PyTorch %d", what, len(got), len(want))
	}
	bad := 0
	for i := range got {
		d := math.Abs(float64(got[i]) - want[i])
		if d > 1e-5*math.Abs(want[i])+1e-6 {
			if bad < 5 {
				t.Errorf("%s[%d] = %v, PyTorch %v", what, i, got[i], want[i])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values off", what, bad, len(got))
	}
}
