package quant

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lstmq/lstmq/internal/f16"
	"github.com/lstmq/lstmq/internal/f32"
	"github.com/lstmq/lstmq/model"
	"github.com/lstmq/lstmq/safetensors"
)

func TestParseHalfSchemes(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Scheme
	}{
		{"fp16", Scheme{Weights: "fp16"}},
		{"BF16", Scheme{Weights: "bf16"}},
		{"fp16-emb8", Scheme{Weights: "fp16", Embedding8: true}},
		{"bf16-emb32", Scheme{Weights: "bf16", Embedding32: true}},
	} {
		s, err := ParseScheme(c.in)
		if err != nil || s != c.want || s.String() != strings.ToLower(c.in) {
			t.Errorf("ParseScheme(%q) = %+v (%s), %v; want %+v", c.in, s, s, err, c.want)
		}
	}
	for _, bad := range []string{"fp16-act8", "tensor-emb32", "emb32", "fp16-emb8-emb32", "fp8", "f16", "bf16-x", "int4"} {
		_, err := ParseScheme(bad)
		if err == nil {
			t.Errorf("ParseScheme(%q): no error", bad)
			continue
		}
		// Every refusal lists the schemes.
		if !strings.Contains(err.Error(), "fp16") && !strings.Contains(err.Error(), "exclude") {
			t.Errorf("ParseScheme(%q): %v does not list the schemes", bad, err)
		}
	}
	if _, err := Quantize(randomParams(rand.New(rand.NewPCG(1, 1)), 5, 3, 2, 1), Scheme{Weights: "fp16", Act8: true}); err == nil {
		t.Error("Quantize fp16 with Act8: no error")
	}
}

// rounded returns p with every weight matrix rounded to f (the embedding
// too if emb), as float32: the float32 model a 16-bit one stands for.
func rounded(p *model.Params, f f16.Format, emb bool) *model.Params {
	r := func(w []float32) []float32 {
		out := make([]float32, len(w))
		for i, v := range w {
			if f == f16.FP16 {
				out[i] = f16.ToFloat32(f16.SaturateFP16(v))
			} else {
				out[i] = f16.ToFloat32BF16(f16.FromFloat32BF16(v))
			}
		}
		return out
	}
	q := *p
	q.Layers = slices.Clone(p.Layers)
	for k := range q.Layers {
		q.Layers[k].Wih, q.Layers[k].Whh = r(p.Layers[k].Wih), r(p.Layers[k].Whh)
	}
	q.DecoderW = r(p.DecoderW)
	if emb {
		q.Encoder = r(p.Encoder)
	}
	return &q
}

// TestHalfEqualsRoundedFloat32 checks that a 16-bit model computes what
// the float32 model on its rounded weights computes: bit for bit when both
// kernel packages run SIMD kernels (the same FMA order), within float32
// rounding of a sum when the float32 reference (separate multiply and add)
// runs instead.
func TestHalfEqualsRoundedFloat32(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	exact := f32.SIMD() && f16.Kernels.Active() != "generic"
	for _, kind := range []model.Kind{model.LSTM, model.GRU, model.RNNTanh} {
		p := randomParams(r, 70, 12, 20, 2)
		p.Kind = kind
		g := kind.Gates()
		for k := range p.Layers {
			in := p.NInp
			if k > 0 {
				in = p.NHid
			}
			p.Layers[k] = model.LayerParams{Wih: randWeights(r, g*p.NHid*in, 0.3), Whh: randWeights(r, g*p.NHid*p.NHid, 0.3),
				Bih: randWeights(r, g*p.NHid, 0.1), Bhh: randWeights(r, g*p.NHid, 0.1)}
		}
		for _, name := range []string{"fp16", "bf16", "fp16-emb32"} {
			s, _ := ParseScheme(name)
			f, _ := s.Half()
			m, err := Quantize(p, s)
			if err != nil {
				t.Fatal(err)
			}
			ref := model.New(*rounded(p, f, !s.Embedding32), 0)
			ids := make([]int32, 7*3)
			for i := range ids {
				ids[i] = int32(r.IntN(p.NToken))
			}
			a := make([]float32, len(ids)*p.NToken)
			b := make([]float32, len(ids)*p.NToken)
			st, st2 := m.NewState(3), ref.NewState(3)
			for range 2 { // two chunks: the state carries over
				m.Forward(nil, a, ids, 7, 3, st)
				ref.Forward(nil, b, ids, 7, 3, st2)
			}
			for i := range a {
				if exact && math.Float32bits(a[i]) != math.Float32bits(b[i]) {
					t.Fatalf("%s %s: logit %d = %g, float32 model %g (SIMD: want equal bits)", kind, name, i, a[i], b[i])
				}
				if d := math.Abs(float64(a[i] - b[i])); d > 1e-5*(1+math.Abs(float64(b[i]))) {
					t.Fatalf("%s %s: logit %d = %g, float32 model %g", kind, name, i, a[i], b[i])
				}
			}
		}
	}
}

// TestHalfSaveLoad checks save → load → identical logits and the dtypes
// in the file, for each 16-bit scheme and kind.
func TestHalfSaveLoad(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	dir := t.TempDir()
	vocab := make([]string, 30)
	for i := range vocab {
		vocab[i] = string(rune('a' + i%26))
	}
	for _, kind := range []model.Kind{model.LSTM, model.GRU, model.RNNReLU} {
		p := randomParams(r, 30, 6, 5, 2)
		p.Kind = kind
		g := kind.Gates()
		for k := range p.Layers {
			in := p.NInp
			if k > 0 {
				in = p.NHid
			}
			p.Layers[k] = model.LayerParams{Wih: randWeights(r, g*p.NHid*in, 0.3), Whh: randWeights(r, g*p.NHid*p.NHid, 0.3),
				Bih: randWeights(r, g*p.NHid, 0.1), Bhh: randWeights(r, g*p.NHid, 0.1)}
		}
		if kind == model.GRU {
			p.DecoderB = nil
		}
		for _, name := range []string{"fp16", "bf16", "fp16-emb8", "bf16-emb32"} {
			s, _ := ParseScheme(name)
			m, err := Quantize(p, s)
			if err != nil {
				t.Fatal(err)
			}
			m.Dropout = 0.3
			path := filepath.Join(dir, kind.String()+name+".safetensors")
			if err := Save(path, m, vocab, nil); err != nil {
				t.Fatal(err)
			}
			m2, v2, md, err := LoadMeta(path)
			if err != nil {
				t.Fatalf("%s %s: %v", kind, name, err)
			}
			if md["scheme"] != name || !slices.Equal(v2, vocab) || m2.Dropout != 0.3 || m2.Kind() != kind {
				t.Errorf("%s %s: metadata %v", kind, name, md)
			}
			if _, ok := md["act_qmax"]; ok {
				t.Errorf("%s: act_qmax in a 16-bit file", name)
			}
			if m2.String() != m.String() {
				t.Errorf("%s: repr %s, want %s", name, m2, m)
			}
			f, err := safetensors.Read(path)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]safetensors.DType{"fp16": safetensors.F16, "bf16": safetensors.BF16}[s.Weights]
			for _, key := range []string{"rnn.weight_ih_l0", "rnn.weight_hh_l1", "decoder.weight"} {
				if tt, _ := f.Tensor(key); tt == nil || tt.DType != want {
					t.Errorf("%s: %s is not %s", name, key, want)
				}
			}
			wantEmb := want
			switch {
			case s.Embedding8:
				wantEmb = safetensors.U8
			case s.Embedding32:
				wantEmb = safetensors.F32
			}
			if tt, _ := f.Tensor("encoder.weight"); tt == nil || tt.DType != wantEmb {
				t.Errorf("%s: encoder.weight is not %s", name, wantEmb)
			}
			ids := []int32{1, 5, 29, 0, 7, 7}
			a := make([]float32, len(ids)*30)
			b := make([]float32, len(ids)*30)
			m.Forward(nil, a, ids, 3, 2, m.NewState(2))
			m2.Forward(nil, b, ids, 3, 2, m2.NewState(2))
			if !slices.Equal(a, b) {
				t.Errorf("%s %s: logits differ after save and load", kind, name)
			}
		}
	}
}

// TestHalfForwardAllocs: a 16-bit model allocates nothing per Forward.
func TestHalfForwardAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	p := randomParams(r, 50, 12, 10, 2)
	for _, name := range []string{"fp16", "bf16-emb8"} {
		s, _ := ParseScheme(name)
		m, err := Quantize(p, s)
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]int32, 5*3)
		st := m.NewState(3)
		logits := make([]float32, 5*3*50)
		w := model.NewWork(nil)
		m.Forward(w, logits, ids, 5, 3, st)
		if n := testing.AllocsPerRun(20, func() { m.Forward(w, logits, ids, 5, 3, st) }); n != 0 {
			t.Errorf("%s: %v allocations per Forward, want 0", name, n)
		}
	}
}
