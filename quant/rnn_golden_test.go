package quant

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
	"github.com/lstmq/lstmq/eval"
	"github.com/lstmq/lstmq/model"
)

// rnnInt8Golden is what testdata/torch/rnn/gen_rnn.py records of PyTorch
// 1.13's quantize_dynamic (engine onednn) on the example's four kinds.
type rnnInt8Golden struct {
	Models map[string]struct {
		Type            string  `json:"type"`
		Nonlinearity    string  `json:"nonlinearity"`
		PyTorchInt8Loss float64 `json:"pytorch_int8_loss"`
	} `json:"models"`
	Quantized map[string]struct {
		Model   string  `json:"model"`
		Weights string  `json:"weights"`
		Repr    string  `json:"repr"`
		Loss    float64 `json:"loss"`
		Tensors map[string]struct {
			Int8 []int8 `json:"int8"`
		} `json:"tensors"`
	} `json:"quantized"`
}

var rnnDir = filepath.Join("..", "testdata", "torch", "rnn")

func loadRNNInt8Golden(t *testing.T) (*rnnInt8Golden, *corpus.Batches) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(rnnDir, "rnn.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g rnnInt8Golden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	cp, err := corpus.Load(filepath.Join("..", "testdata", "torch", "corpus"))
	if err != nil {
		t.Fatal(err)
	}
	return &g, corpus.Batchify(cp.Test, 1)
}

func testLoss(t *testing.T, m *model.Model, data *corpus.Batches) float64 {
	t.Helper()
	r, err := (&eval.Evaluator{Model: m, BPTT: 25}).Run(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	return r.Loss
}

// TestGoldenRNNInt8 quantizes each fp32 model with scheme pytorch and
// compares the loss with quantize_dynamic's({nn.<kind>, nn.Linear}, qint8):
// within 1e-6, since the weights, the activations' codes and the cells
// are PyTorch's bit for bit (onednn.go, f32.LSTMCellTorch,
// f32.GRUCellTorch), and only the float32 sums' order differs. For
// RNN_TANH and RNN_RELU PyTorch, and so scheme pytorch, quantizes only
// the decoder.
func TestGoldenRNNInt8(t *testing.T) {
	g, data := loadRNNInt8Golden(t)
	for stem, want := range g.Models {
		t.Run(stem, func(t *testing.T) {
			_, p, err := checkpoint.LoadPth(filepath.Join(rnnDir, stem+".pth"), want.Nonlinearity)
			if err != nil {
				t.Fatal(err)
			}
			qm, err := Quantize(p, PyTorch)
			if err != nil {
				t.Fatal(err)
			}
			_, float := qm.RNN.(*model.RNN)
			if wantFloat := p.Kind.Module() == "RNN"; float != wantFloat {
				t.Errorf("%s under scheme pytorch: float recurrent module %v, want %v", p.Kind, float, wantFloat)
			}
			loss := testLoss(t, qm, data)
			if d := math.Abs(loss - want.PyTorchInt8Loss); d > 1e-6 {
				t.Errorf("int8 loss %.8f, quantize_dynamic %.8f (|Δ| %.2g)", loss, want.PyTorchInt8Loss, d)
			}
			t.Logf("int8 loss %.8f, quantize_dynamic %.8f (|Δ| %.2g)", loss, want.PyTorchInt8Loss, math.Abs(loss-want.PyTorchInt8Loss))
			// lstmq's other schemes quantize the RNN too.
			if cm, err := Quantize(p, Scheme{Weights: "channel"}); err != nil {
				t.Error(err)
			} else if _, ok := cm.RNN.(*RNN); !ok {
				t.Errorf("scheme channel left %T", cm.RNN)
			}
		})
	}
}

// TestGoldenQuantizedGRU reads PyTorch's quantized GRU state dicts: the
// int8 weights must be PyTorch's int_repr() exactly, the module printed
// as PyTorch prints it, and the loss PyTorch's within 1e-6. Quantizing the
// float GRU with the same scheme gives the same int8 weights.
func TestGoldenQuantizedGRU(t *testing.T) {
	g, data := loadRNNInt8Golden(t)
	if len(g.Quantized) == 0 {
		t.Fatal("rnn.json has no quantized files")
	}
	for file, want := range g.Quantized {
		t.Run(file, func(t *testing.T) {
			m, scheme, err := LoadPth(filepath.Join(rnnDir, file), 127)
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind() != model.GRU {
				t.Fatalf("kind %s, want GRU", m.Kind())
			}
			if wantScheme := map[string]string{"tensor": "pytorch", "channel": "channel"}[want.Weights]; scheme != wantScheme {
				t.Errorf("scheme %q, want %q", scheme, wantScheme)
			}
			m.Dropout = 0.2
			if _, got, _ := strings.Cut(m.String(), "\n"); !strings.HasSuffix(want.Repr, got) {
				t.Errorf("print(model):\n%s\nPyTorch:\n%s", m.String(), want.Repr)
			}
			checkInt8(t, m, want.Tensors)
			if loss := testLoss(t, m, data); math.Abs(loss-want.Loss) > 1e-6 {
				t.Errorf("loss %.8f, PyTorch %.8f (|Δ| %.2g)", loss, want.Loss, math.Abs(loss-want.Loss))
			}

			_, p, err := checkpoint.LoadPth(filepath.Join(rnnDir, want.Model+".pth"), "")
			if err != nil {
				t.Fatal(err)
			}
			s, _ := ParseScheme(scheme)
			qm, err := Quantize(p, s)
			if err != nil {
				t.Fatal(err)
			}
			checkInt8(t, qm, want.Tensors)
			// The file lstmq quantize writes holds those weights too.
			path := filepath.Join(t.TempDir(), "gru.safetensors")
			if err := Save(path, qm, nil, nil); err != nil {
				t.Fatal(err)
			}
			back, _, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			checkInt8(t, back, want.Tensors)
		})
	}
}

func checkInt8(t *testing.T, m *model.Model, want map[string]struct {
	Int8 []int8 `json:"int8"`
}) {
	t.Helper()
	got := map[string]*Weight{"decoder.weight": m.Decoder.(*Linear).W}
	for k, ly := range m.RNN.(*RNN).Layer {
		got[model.LayerKey("weight_ih", k)] = ly.Wih
		got[model.LayerKey("weight_hh", k)] = ly.Whh
	}
	if len(got) != len(want) {
		t.Fatalf("%d int8 weights, PyTorch %d", len(got), len(want))
	}
	for key, w := range want {
		q := got[key].Q()
		if len(q) != len(w.Int8) {
			t.Fatalf("%s: %d values, PyTorch %d", key, len(q), len(w.Int8))
		}
		for i := range q {
			if q[i] != w.Int8[i] {
				t.Fatalf("%s[%d] = %d, PyTorch %d", key, i, q[i], w.Int8[i])
			}
		}
	}
}

// TestRNNKindsFileRoundTrip saves each kind in fp32 and under schemes
// pytorch (a float nn.RNN for RNN_TANH and RNN_RELU) and channel-act8, and
// loads it back: the kind, the structure and the loss come back exactly.
func TestRNNKindsFileRoundTrip(t *testing.T) {
	g, data := loadRNNInt8Golden(t)
	data = data.Head(300)
	for stem, want := range g.Models {
		if strings.HasSuffix(stem, "_tied") {
			continue
		}
		_, p, err := checkpoint.LoadPth(filepath.Join(rnnDir, stem+".pth"), want.Nonlinearity)
		if err != nil {
			t.Fatal(err)
		}
		for _, scheme := range []string{"fp32", "pytorch", "channel-act8"} {
			t.Run(stem+"/"+scheme, func(t *testing.T) {
				m := model.New(*p, 0.2)
				if scheme != "fp32" {
					s, _ := ParseScheme(scheme)
					if m, err = Quantize(p, s); err != nil {
						t.Fatal(err)
					}
					m.Dropout = 0.2
				}
				path := filepath.Join(t.TempDir(), "m.safetensors")
				if err := Save(path, m, nil, nil); err != nil {
					t.Fatal(err)
				}
				back, _, meta, err := LoadMeta(path)
				if err != nil {
					t.Fatal(err)
				}
				if back.Kind() != p.Kind || meta["scheme"] != scheme {
					t.Errorf("read back %s, scheme %q; saved %s, %q", back.Kind(), meta["scheme"], p.Kind, scheme)
				}
				if back.String() != m.String() {
					t.Errorf("read back\n%s\nsaved\n%s", back, m)
				}
				if a, b := testLoss(t, m, data), testLoss(t, back, data); a != b {
					t.Errorf("loss %.9f after the round trip, %.9f before", b, a)
				}
			})
		}
	}
}
