package quant

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/lstmq/lstmq/corpus"
	"github.com/lstmq/lstmq/eval"
	"github.com/lstmq/lstmq/model"
)

// Fixtures from testdata/torch/gen_quant.py (PyTorch 1.13, Debian build
// without FBGEMM): a small trained model and what quantize_dynamic makes of
// it under the qnnpack and onednn engines.

var fixtureDir = filepath.Join("..", "testdata", "torch", "quant")

type tensorJSON struct {
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

type modelFixture struct {
	NToken, NInp, NHid, NLayers int
	Dropout                     float64
	Batch, BPTT                 int
	StateDict                   map[string]tensorJSON `json:"state_dict"`
	EvalTokens                  []int32               `json:"eval_tokens"`
	FP32Loss                    float64               `json:"fp32_loss"`
	LinearInput                 []float64             `json:"linear_input"`
	LinearRows                  int                   `json:"linear_rows"`
	FP32LinearOutput            []float64             `json:"fp32_linear_output"`
	LSTMInput                   []float64             `json:"lstm_input"`
	LSTMSteps                   int                   `json:"lstm_steps"`
	LSTMBatch                   int                   `json:"lstm_batch"`
	Repr                        string                `json:"repr"`
}

type qweightJSON struct {
	Shape      []int     `json:"shape"`
	Int8       []int8    `json:"int8"`
	QScheme    string    `json:"qscheme"`
	Scales     []float64 `json:"scales"`
	ZeroPoints []float64 `json:"zero_points"`
}

type engineRun struct {
	Weights      map[string]qweightJSON `json:"weights"`
	LinearOutput []float64              `json:"linear_output"`
	LSTMOutput   []float64              `json:"lstm_output"`
	LSTMH        []float64              `json:"lstm_h"`
	LSTMC        []float64              `json:"lstm_c"`
	Loss         float64                `json:"loss"`
	ReprDecoder  string                 `json:"repr_decoder"`
	ReprRNN      string                 `json:"repr_rnn"`
}

type engineFixture struct {
	Engine            string    `json:"engine"`
	ActQmax           int32     `json:"act_qmax"`
	Tensor            engineRun `json:"tensor"`
	Channel           engineRun `json:"channel"`
	LinearInputParams struct {
		Scale     float64 `json:"scale"`
		ZeroPoint int32   `json:"zero_point"`
	} `json:"linear_input_qparams"`
}

type qparamsFixture struct {
	ChooseQParams []struct {
		Min, Max  float64
		Qmax      int32
		Scale     float64
		ZeroPoint int32 `json:"zero_point"`
	} `json:"choose_qparams"`
	WeightTies []struct {
		W     []float64
		Scale float64
		Int8  []int8
	} `json:"weight_ties"`
	FBGEMMExample   int     `json:"fbgemm_example_uint8"`
	TinyWeightScale float64 `json:"tiny_weight_scale"`
	Embedding       struct {
		Int8       []uint8   `json:"int8"`
		Scales     []float64 `json:"scales"`
		ZeroPoints []float64 `json:"zero_points"`
		IDs        []int32   `json:"ids"`
		Output     []float64 `json:"output"`
		Repr       string    `json:"repr"`
	} `json:"embedding"`
}

func readJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
}

func f32s(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

func loadModelFixture(t testing.TB) (*modelFixture, *model.Params) {
	t.Helper()
	var f modelFixture
	readJSON(t, "model.json", &f)
	sd := func(k string) []float32 {
		v, ok := f.StateDict[k]
		if !ok {
			t.Fatalf("fixture: no %s", k)
		}
		return f32s(v.Data)
	}
	p := &model.Params{NToken: f.NToken, NInp: f.NInp, NHid: f.NHid,
		Encoder: sd("encoder.weight"), DecoderW: sd("decoder.weight"), DecoderB: sd("decoder.bias")}
	for k := range f.NLayers {
		p.Layers = append(p.Layers, model.LayerParams{
			Wih: sd(key("rnn.weight_ih_l", k)), Whh: sd(key("rnn.weight_hh_l", k)),
			Bih: sd(key("rnn.bias_ih_l", k)), Bhh: sd(key("rnn.bias_hh_l", k)),
		})
	}
	return &f, p
}

func key(prefix string, k int) string { return prefix + string(rune('0'+k)) }

func loadEngine(t testing.TB, engine string) *engineFixture {
	var e engineFixture
	readJSON(t, engine+".json", &e)
	return &e
}

// weightsOf lists a quantized model's weights under their state_dict names.
func weightsOf(m *model.Model) map[string]*Weight {
	out := map[string]*Weight{"decoder.weight": m.Decoder.(*Linear).W}
	for k, ly := range m.RNN.(*RNN).Layer {
		out[key("rnn.weight_ih_l", k)] = ly.Wih
		out[key("rnn.weight_hh_l", k)] = ly.Whh
	}
	return out
}

// TestGoldenWeights checks that the int8 weights and their scales equal
// PyTorch's int_repr() and q_scale()/q_per_channel_scales() exactly, for
// both engines (the weights do not depend on the engine).
func TestGoldenWeights(t *testing.T) {
	_, p := loadModelFixture(t)
	for _, engine := range []string{"qnnpack", "onednn"} {
		e := loadEngine(t, engine)
		for _, c := range []struct {
			scheme string
			run    *engineRun
		}{{"pytorch", &e.Tensor}, {"channel", &e.Channel}} {
			s, _ := ParseScheme(c.scheme)
			m, err := Quantize(p, s)
			if err != nil {
				t.Fatal(err)
			}
			got := weightsOf(m)
			if len(got) != len(c.run.Weights) {
				t.Fatalf("%s/%s: %d weights, fixture has %d", engine, c.scheme, len(got), len(c.run.Weights))
			}
			for name, want := range c.run.Weights {
				w := got[name]
				if w == nil {
					t.Fatalf("%s/%s: no weight %s", engine, c.scheme, name)
				}
				if w.QScheme() != want.QScheme {
					t.Errorf("%s/%s %s: qscheme %s, want %s", engine, c.scheme, name, w.QScheme(), want.QScheme)
				}
				if len(w.Scales) != len(want.Scales) {
					t.Fatalf("%s/%s %s: %d scales, want %d", engine, c.scheme, name, len(w.Scales), len(want.Scales))
				}
				for i, s := range want.Scales {
					if w.Scales[i] != float32(s) || float64(float32(s)) != s {
						t.Errorf("%s/%s %s: scale[%d] = %v, want %v", engine, c.scheme, name, i, w.Scales[i], s)
					}
				}
				for _, z := range want.ZeroPoints {
					if z != 0 {
						t.Errorf("%s/%s %s: zero point %v, want 0", engine, c.scheme, name, z)
					}
				}
				wq, bad := w.Q(), 0
				for i, q := range want.Int8 {
					if i >= len(wq) || wq[i] != q {
						bad++
					}
				}
				if bad > 0 || len(wq) != len(want.Int8) {
					t.Errorf("%s/%s %s: %d of %d int8 values differ", engine, c.scheme, name, bad, len(want.Int8))
				}
			}
		}
	}
}

func TestGoldenChooseQParams(t *testing.T) {
	var f qparamsFixture
	readJSON(t, "qparams.json", &f)
	for _, c := range f.ChooseQParams {
		s, z := ChooseActivationParams(float32(c.Min), float32(c.Max), 0, c.Qmax)
		if s != float32(c.Scale) || z != c.ZeroPoint {
			t.Errorf("ChooseActivationParams(%v, %v, 0, %d) = %v, %d; want %v, %d",
				float32(c.Min), float32(c.Max), c.Qmax, s, z, float32(c.Scale), c.ZeroPoint)
		}
	}
	for _, engine := range []string{"qnnpack", "onednn"} {
		mf, _ := loadModelFixture(t)
		e := loadEngine(t, engine)
		lo, hi := minMax(f32s(mf.LinearInput))
		s, z := ChooseActivationParams(lo, hi, 0, e.ActQmax)
		if s != float32(e.LinearInputParams.Scale) || z != e.LinearInputParams.ZeroPoint {
			t.Errorf("%s linear input: %v, %d; want %v, %d", engine, s, z, e.LinearInputParams.Scale, e.LinearInputParams.ZeroPoint)
		}
	}
}

func TestGoldenWeightTies(t *testing.T) {
	var f qparamsFixture
	readJSON(t, "qparams.json", &f)
	for _, c := range f.WeightTies {
		q, s := QuantizeWeightsPerTensor(f32s(c.W))
		if s != float32(c.Scale) {
			t.Errorf("scale %v, want %v", s, c.Scale)
		}
		for i := range q {
			if q[i] != c.Int8[i] {
				t.Errorf("scale %v: w=%v → %d, want %d", s, float32(c.W[i]), q[i], c.Int8[i])
			}
		}
	}
	// FBGEMM's example: 0.273939937·(1/0.00214854861) is 127.5 in float32
	// (→ 128), while 0.273939937/0.00214854861 is 127.49999 (→ 127).
	var dst [1]uint8
	quantizeU8(dst[:], []float32{0.273939937}, 1/float32(0.00214854861), 0, 255)
	if int(dst[0]) != f.FBGEMMExample {
		t.Errorf("FBGEMM example: %d, want %d", dst[0], f.FBGEMMExample)
	}
	if _, s := QuantizeWeightsPerTensor([]float32{1e-9, -3e-8, 0}); s != float32(f.TinyWeightScale) {
		t.Errorf("tiny weights: scale %v, want %v", s, f.TinyWeightScale)
	}
}

func TestGoldenEmbedding(t *testing.T) {
	var f qparamsFixture
	readJSON(t, "qparams.json", &f)
	_, p := loadModelFixture(t)
	e, err := quantizeEmbedding(p.Encoder, p.NToken, p.NInp, 8)
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range f.Embedding.Int8 {
		if e.Q[i] != q {
			t.Fatalf("embedding q[%d] = %d, want %d", i, e.Q[i], q)
		}
	}
	for r := range e.Scales {
		if e.Scales[r] != float32(f.Embedding.Scales[r]) || e.ZeroPoints[r] != float32(f.Embedding.ZeroPoints[r]) {
			t.Errorf("row %d: scale, zp = %v, %v; want %v, %v", r, e.Scales[r], e.ZeroPoints[r],
				f.Embedding.Scales[r], f.Embedding.ZeroPoints[r])
		}
	}
	out := make([]float32, len(f.Embedding.IDs)*e.Dim())
	e.Lookup(out, f.Embedding.IDs)
	for i, v := range f.Embedding.Output {
		if out[i] != float32(v) {
			t.Errorf("lookup[%d] = %v, want %v", i, out[i], v)
		}
	}
	if e.String() != f.Embedding.Repr {
		t.Errorf("String() = %s, want %s", e, f.Embedding.Repr)
	}
}

// maxRelErr returns max |got−want| / max|want|.
func maxRelErr(got []float32, want []float64) float64 {
	var d, m float64
	for i, w := range want {
		d = max(d, math.Abs(float64(got[i])-w))
		m = max(m, math.Abs(w))
	}
	return d / m
}

// TestGoldenOutputs compares the quantized Linear and LSTM with PyTorch's.
// The onednn fixtures match scheme "pytorch" (reduce_range, [0, 127]) and
// the qnnpack ones scheme "act8" ([0, 255]), with the same weights.
//
// Tolerance 1e-5 of the output range: when every activation quantizes to
// the same code the integer products are identical and only fp32 rounding
// differs (order of the dequantization and of the gate sums, float64 vs
// float32 sigmoid/tanh): a few ulps, about 1e-7 (measured: ≤ 1.7e-7). One
// activation taking the neighbouring code instead moves an output by
// s_a·s_w·|w_q|, about 1e-3 of the range, so 1e-5 also checks that every
// activation code agrees with PyTorch's.
func TestGoldenOutputs(t *testing.T) {
	mf, p := loadModelFixture(t)
	for _, c := range []struct{ engine, scheme string }{
		{"onednn", "pytorch"}, {"onednn", "channel"}, {"qnnpack", "act8"}, {"qnnpack", "channel-act8"},
	} {
		e := loadEngine(t, c.engine)
		run := &e.Tensor
		s, err := ParseScheme(c.scheme)
		if err != nil {
			t.Fatal(err)
		}
		if s.Weights == "channel" {
			run = &e.Channel
		}
		m, err := Quantize(p, s)
		if err != nil {
			t.Fatal(err)
		}
		if m.Decoder.String() != run.ReprDecoder || m.RNN.Repr(m.Dropout) != run.ReprRNN {
			t.Errorf("%s: repr %s, %s; want %s, %s", c.scheme, m.Decoder, m.RNN.Repr(m.Dropout), run.ReprDecoder, run.ReprRNN)
		}
		out := make([]float32, mf.LinearRows*mf.NToken)
		m.Decoder.Forward(nil, out, f32s(mf.LinearInput), mf.LinearRows)
		// The Linear is bit-exact: onednn's arithmetic for the reduce_range
		// schemes (onednn.go), and for act8 FBGEMM's, which QNNPACK's
		// dynamic Linear also gives on these inputs.
		for i, v := range out {
			if float64(v) != run.LinearOutput[i] {
				t.Errorf("%s/%s: Linear output %d is %v, PyTorch %v", c.engine, c.scheme, i, v, run.LinearOutput[i])
				break
			}
		}
		st := model.NewState(mf.NLayers, mf.LSTMBatch, mf.NHid)
		lo := make([]float32, mf.LSTMSteps*mf.LSTMBatch*mf.NHid)
		m.RNN.Forward(nil, lo, f32s(mf.LSTMInput), mf.LSTMSteps, mf.LSTMBatch, st)
		for _, x := range []struct {
			name string
			got  []float32
			want []float64
		}{{"output", lo, run.LSTMOutput}, {"h", st.H, run.LSTMH}, {"c", st.C, run.LSTMC}} {
			// onednn: PyTorch's arithmetic and cell, bit for bit; qnnpack:
			// FBGEMM's arithmetic and lstmq's float32 cell, within 1e-5 of
			// the range (float32 rounding in the transcendentals).
			tol := 1e-5
			if c.engine == "onednn" {
				tol = 0
			}
			if d := maxRelErr(x.got, x.want); d > tol {
				t.Errorf("%s/%s: LSTM %s differs from PyTorch by %.3g of its range", c.engine, c.scheme, x.name, d)
			} else {
				t.Logf("%s/%s: LSTM %s within %.3g of its range", c.engine, c.scheme, x.name, d)
			}
		}
	}
}

// TestGoldenLoss compares evaluate() of the quantized model with PyTorch's.
// With the activation codes equal (TestGoldenOutputs), what remains is fp32
// rounding of the logits (a few ulps, ~1e-7 relative) averaged over 200
// targets: measured ≤ 4e-8. We allow 1e-6, far below the quantization
// effect itself (fp32 vs quantized: 1e-4 to 1.4e-3).
func TestGoldenLoss(t *testing.T) {
	mf, p := loadModelFixture(t)
	data := corpus.Batchify(mf.EvalTokens, mf.Batch)
	fp := model.New(*p, mf.Dropout)
	if fp.String() != mf.Repr {
		t.Errorf("fp32 repr:\n%s\nwant\n%s", fp, mf.Repr)
	}
	r, err := (&eval.Evaluator{Model: fp, BPTT: mf.BPTT}).Run(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(r.Loss-mf.FP32Loss) > 1e-6 {
		t.Errorf("fp32 loss %.6f, PyTorch %.6f", r.Loss, mf.FP32Loss)
	}
	t.Logf("fp32 loss %.6f (PyTorch %.6f)", r.Loss, mf.FP32Loss)
	for _, c := range []struct{ engine, scheme string }{
		{"onednn", "pytorch"}, {"onednn", "channel"}, {"qnnpack", "act8"}, {"qnnpack", "channel-act8"},
	} {
		e := loadEngine(t, c.engine)
		want := e.Tensor.Loss
		s, _ := ParseScheme(c.scheme)
		if s.Weights == "channel" {
			want = e.Channel.Loss
		}
		m, err := Quantize(p, s)
		if err != nil {
			t.Fatal(err)
		}
		r, err := (&eval.Evaluator{Model: m, BPTT: mf.BPTT}).Run(context.Background(), data)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(r.Loss-want) > 1e-6 {
			t.Errorf("%s/%s: loss %.6f, PyTorch %.6f", c.engine, c.scheme, r.Loss, want)
		}
		t.Logf("%s/%s: loss %.9f, PyTorch %.9f (fp32 %.9f)", c.engine, c.scheme, r.Loss, want, mf.FP32Loss)
	}
}
