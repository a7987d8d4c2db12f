package quant

import (
	"bytes"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lstmq/lstmq/internal/f16"
	"github.com/lstmq/lstmq/internal/parallel"
	"github.com/lstmq/lstmq/model"
	"github.com/lstmq/lstmq/safetensors"
)

func TestPackCodes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for bits := 2; bits <= 8; bits++ {
		for _, cols := range []int{1, 3, 7, 8, 31, 33, 64, 255} {
			rows := 3
			codes := make([]uint8, rows*cols)
			for i := range codes {
				codes[i] = uint8(r.IntN(1 << bits))
			}
			p := packCodes(codes, rows, cols, bits)
			if len(p) != rows*((cols*bits+7)/8) {
				t.Fatalf("bits %d cols %d: %d bytes", bits, cols, len(p))
			}
			if got := unpackCodes(p, rows, cols, bits); !slices.Equal(got, codes) {
				t.Fatalf("bits %d cols %d: round trip differs", bits, cols)
			}
		}
	}
	// The documented nibble order: code 2i low, 2i+1 high.
	if p := packCodes([]uint8{0x3, 0xa, 0x5}, 1, 3, 4); !bytes.Equal(p, []byte{0xa3, 0x05}) {
		t.Errorf("4-bit packing %x, want a305", p)
	}
	if p := packCodes([]uint8{1, 2, 3, 0, 3}, 1, 5, 2); !bytes.Equal(p, []byte{0x39, 0x03}) {
		t.Errorf("2-bit packing %x, want 3903", p)
	}
}

func TestParseLowBitSchemes(t *testing.T) {
	for name, want := range map[string]string{
		"q4_0": "q4_0", "Q4_K": "q4_k", "q3_1-emb4": "q3_1-emb4", "q4_k-emb4-gptq,dec=q6_k": "q4_k-emb4-gptq,dec=q6_k",
		"q2_k-act8-emb2-imatrix": "q2_k-act8-emb2-imatrix", "tensor,dec=q4_0,hh1=block64": "tensor,dec=q4_0,hh1=block64",
		"q8_0-emb7": "q8_0-emb7", "channel,rnn=pytorch": "channel,rnn=tensor",
	} {
		s, err := ParseScheme(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if s.String() != want {
			t.Errorf("%s: name %q, want %q", name, s, want)
		}
		if err := s.validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, bad := range []string{"q1_0", "q9_0", "q4_2", "q4", "q4_k-emb1", "q4_k-emb9", "channel-gptq", "fp16-emb4",
		"q4_k,dec", "q4_k,foo=q4_0", "q4_k,dec=q4_x", "fp16,dec=q4_0", "q4_k-emb4-emb8", "q4_k,ih01=q4_0"} {
		if _, err := ParseScheme(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	s, _ := ParseScheme("q4_k,rnn=q6_k,hh1=q8_0,dec=channel")
	for target, want := range map[string]string{"dec": "channel", "ih0": "q6_k", "hh0": "q6_k", "hh1": "q8_0", "ih1": "q6_k"} {
		if got := s.weightsFor(target); got != want {
			t.Errorf("plan: %s is %s, want %s", target, got, want)
		}
	}
}

// TestLowBitRoundTrip checks every format against a float reference: each
// weight reads back as the grid point d_j·u + m_j nearest to it (up to the
// block's clamped extremes), and the error falls as the bits grow.
func TestLowBitRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	rows, cols := 7, 300 // a short last block and a short last super-block
	w := make([]float32, rows*cols)
	for i := range w {
		w[i] = float32(r.NormFloat64()) * 0.05
	}
	w[5] = 0.9 // an outlier
	for _, kind := range []byte{'0', '1', 'k'} {
		prev := 0.0
		for bits := 2; bits <= 8; bits++ {
			f := LowBit{Bits: bits, Kind: kind}
			l := quantizeLowBit(w, rows, cols, f, nil)
			deq := l.dequantize()
			nb, _ := l.blocks()
			for rr := range rows {
				for j := range nb {
					d, m := l.block(rr, j)
					for c := j * lowBlock; c < min((j+1)*lowBlock, cols); c++ {
						i := rr*cols + c
						u := float64(l.codes[i])
						if got := float64(d)*u + float64(m); math.Abs(got-float64(deq[i])) > 1e-6 {
							t.Fatalf("%s: value %v is not d·u+m = %v", f, deq[i], got)
						}
						// Nearest grid point unless at a clamped end.
						if u > 0 && u < float64(f.levels()) && math.Abs(float64(w[i]-deq[i])) > math.Abs(float64(d))/2*1.0001+1e-7 {
							t.Fatalf("%s: w %v read back as %v, off by more than d/2 = %v", f, w[i], deq[i], d/2)
						}
					}
				}
			}
			sqnr := SQNR(w, deq)
			if bits > 2 && sqnr <= prev {
				t.Errorf("%s: SQNR %.2f dB not above %d bits' %.2f dB", f, sqnr, bits-1, prev)
			}
			prev = sqnr
			if bits == 4 && sqnr < 15 {
				t.Errorf("%s: SQNR %.2f dB, want at least 15", f, sqnr)
			}
		}
	}
}

// TestFitImportance: the weighted search never loses on the weighted error
// against plain rounding on the min-max (or max-magnitude) grid, which is
// its first candidate (up to the float32 rounding of its result).
func TestFitImportance(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for trial := range 200 {
		w, imp := make([]float32, 32), make([]float32, 32)
		for i := range w {
			w[i] = float32(r.NormFloat64())
			imp[i] = float32(r.ExpFloat64())
		}
		for _, bits := range []int{2, 3, 4} {
			h := 1 << (bits - 1)
			var mx float32
			for _, v := range w {
				if abs32(v) > abs32(mx) {
					mx = v
				}
			}
			plain, weighted := float64(mx)/-float64(h), fitSymmetric(w, imp, h)
			if e0, e1 := symError(w, imp, plain, h), symError(w, imp, float64(weighted), h); e1 > e0*(1+1e-6) {
				t.Fatalf("trial %d, %d bits: symmetric weighted error %v above plain %v", trial, bits, e1, e0)
			}
			lo, hi := minMax(w)
			d0, m0 := float64(hi-lo)/float64(int(1)<<bits-1), float64(lo)
			d1, m1 := fitAffine(w, imp, 1<<bits-1, false)
			if e0, e1 := affineError(w, imp, d0, m0, 1<<bits-1), affineError(w, imp, float64(d1), float64(m1), 1<<bits-1); e1 > e0*(1+1e-6) {
				t.Fatalf("trial %d, %d bits: affine weighted error %v above plain %v", trial, bits, e1, e0)
			}
		}
	}
}

// TestLowBitProduct checks the runtime product of each format against the
// float reference: Σ_p deq(W)[j,p]·sa·(a[i,p] − za) + bias[j], in float64.
func TestLowBitProduct(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	wk := model.NewWork(parallel.NewPool(1))
	for _, name := range []string{"q4_0", "q4_1", "q4_k", "q2_k", "q6_1", "q8_0"} {
		f, _ := parseLowBit(name)
		for _, shape := range [][2]int{{5, 7}, {33, 64}, {70, 300}} {
			n, k := shape[0], shape[1]
			w := randWeights(r, n*k, 0.2)
			wt, err := quantizeLowBit(w, n, k, f, nil).weight()
			if err != nil {
				t.Fatal(err)
			}
			deq := wt.Dequantize()
			for _, m := range []int{1, 3} {
				a := make([]uint8, m*k)
				for i := range a {
					a[i] = uint8(r.IntN(128))
				}
				bias := randWeights(r, n, 0.1)
				sa, za := float32(0.013), int32(41)
				got := make([]float32, m*n)
				wt.mulDequant(wk, got, a, m, sa, za, bias)
				for i := range m {
					for j := range n {
						var want, mag float64
						for p := range k {
							v := float64(deq[j*k+p]) * float64(sa) * float64(int32(a[i*k+p])-za)
							want += v
							mag += math.Abs(v)
						}
						want += float64(bias[j])
						if d := math.Abs(float64(got[i*n+j]) - want); d > 1e-5*(mag+1) {
							t.Fatalf("%s %dx%d m=%d: out[%d,%d] = %v, want %v", name, n, k, m, i, j, got[i*n+j], want)
						}
					}
				}
			}
		}
	}
}

// TestLowBitFile saves and loads models of low-bit schemes: the loaded
// model gives the same logits bit for bit, a second save the same bytes,
// and the tensors are stored as the format comment says.
func TestLowBitFile(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	p := randomParams(r, 41, 40, 36, 2)
	ids := make([]int32, 15)
	for i := range ids {
		ids[i] = int32(r.IntN(41))
	}
	dir := t.TempDir()
	for _, name := range []string{"q4_0", "q4_1-emb4", "q4_k-act8-emb3", "q2_k", "tensor-emb4,dec=q4_k,hh1=q6_1,ih0=block32"} {
		s, err := ParseScheme(name)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Quantize(p, s)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		path := filepath.Join(dir, strings.ReplaceAll(name, ",", "_")+".safetensors")
		if err := Save(path, m, nil, nil); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		m2, _, md, err := LoadMeta(path)
		if err != nil {
			t.Fatalf("%s: load: %v", name, err)
		}
		if md["scheme"] != s.String() {
			t.Errorf("%s: metadata scheme %q", name, md["scheme"])
		}
		if a, b := logits(m, ids), logits(m2, ids); !slices.Equal(a, b) {
			t.Errorf("%s: loaded model's logits differ", name)
		}
		path2 := filepath.Join(dir, "again.safetensors")
		if err := Save(path2, m2, nil, nil); err != nil {
			t.Fatal(err)
		}
		b1, _ := safetensors.ReadBytes(path)
		b2, _ := safetensors.ReadBytes(path2)
		if !bytes.Equal(b1, b2) {
			t.Errorf("%s: a second save differs", name)
		}
		f, err := safetensors.Read(path)
		if err != nil {
			t.Fatal(err)
		}
		dec, _ := f.Tensor("decoder.weight")
		if fm, ok := parseLowBit(s.weightsFor("dec")); ok {
			if dec.DType != safetensors.U8 || !slices.Equal(dec.Shape, []int{41, (36*fm.Bits + 7) / 8}) {
				t.Errorf("%s: decoder.weight is %s%v", name, dec.DType, dec.Shape)
			}
			sc, _ := f.Tensor("decoder.weight.scale")
			if sc == nil || sc.DType != safetensors.F16 {
				t.Errorf("%s: decoder.weight.scale missing or not F16", name)
			}
		}
	}
}

func logits(m *model.Model, ids []int32) []float32 {
	wk := model.NewWork(parallel.NewPool(1))
	out := make([]float32, len(ids)*m.Decoder.Out())
	m.Forward(wk, out, ids, len(ids), 1, m.NewState(1))
	return out
}

// TestLowBitFileRejects: damaged low-bit tensors are refused by name.
func TestLowBitFileRejects(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	p := randomParams(r, 20, 8, 8, 1)
	s, _ := ParseScheme("q4_k")
	m, err := Quantize(p, s)
	if err != nil {
		t.Fatal(err)
	}
	ts, md, err := encodeModel(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ts {
		if ts[i].Name == "decoder.weight.block_scale" {
			ts[i].Data = slices.Clone(ts[i].Data)
			ts[i].Data[0] = 64
		}
	}
	var buf bytes.Buffer
	if err := safetensors.Encode(&buf, ts, md); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := parseModel(buf.Bytes(), "x.safetensors"); err == nil || !strings.Contains(err.Error(), "decoder.weight.block_scale") {
		t.Errorf("6-bit scale of 64: error %v", err)
	}
	for i := range ts {
		if ts[i].Name == "decoder.weight.scale" {
			ts[i].Data = slices.Clone(ts[i].Data)
			ts[i].Data[0], ts[i].Data[1] = byte(f16.FromFloat32(float32(math.Inf(1)))), byte(f16.FromFloat32(float32(math.Inf(1)))>>8)
		}
	}
	buf.Reset()
	if err := safetensors.Encode(&buf, ts, md); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := parseModel(buf.Bytes(), "x.safetensors"); err == nil {
		t.Error("infinite scale: no error")
	}
}
