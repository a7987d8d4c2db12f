package quant

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lstmq/lstmq/corpus"
	"github.com/lstmq/lstmq/internal/q8"
	"github.com/lstmq/lstmq/model"
)

func TestParseScheme(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Scheme
		name string
	}{
		{"", PyTorch, "pytorch"},
		{"pytorch", PyTorch, "pytorch"},
		{"tensor", PyTorch, "pytorch"},
		{"act8", Scheme{Weights: "tensor", Act8: true}, "tensor-act8"},
		{"channel", Scheme{Weights: "channel"}, "channel"},
		{"channel-act8", Scheme{Weights: "channel", Act8: true}, "channel-act8"},
		{"Channel-Act8-Emb8", Scheme{Weights: "channel", Act8: true, Embedding8: true}, "channel-act8-emb8"},
		{"emb8", Scheme{Weights: "tensor", Embedding8: true}, "tensor-emb8"},
		{"block32", Scheme{Weights: "block32"}, "block32"},
		{"block064-act8", Scheme{Weights: "block64", Act8: true}, "block64-act8"},
	} {
		s, err := ParseScheme(c.in)
		if err != nil || s != c.want || s.String() != c.name {
			t.Errorf("ParseScheme(%q) = %+v (%s), %v; want %+v (%s)", c.in, s, s, err, c.want, c.name)
		}
		if back, err := ParseScheme(s.String()); err != nil || back != s {
			t.Errorf("ParseScheme(%q) = %+v, %v; want %+v", s.String(), back, err, s)
		}
	}
	for _, bad := range []string{"int4", "block", "block4", "block9999", "blockx", "channel-fast", "channel-"} {
		if _, err := ParseScheme(bad); err == nil {
			t.Errorf("ParseScheme(%q): no error", bad)
		}
	}
	if _, err := Quantize(&model.Params{}, Scheme{Weights: "nope"}); err == nil {
		t.Error("Quantize with an invalid scheme: no error")
	}
}

func TestQuantizeWeightsPerTensor(t *testing.T) {
	// scale = 2/127.5; w/scale = −63.75, 31.875, 15.9375, 127.5, 0.5, 1.5
	// round half even: −64, 32, 16, 128 → clamped 127, 0, 2.
	s := float32(2) / 127.5
	w := []float32{-1, 0.5, 0.25, 2, 0.5 * s, 1.5 * s}
	q, scale := QuantizeWeightsPerTensor(w)
	if scale != s {
		t.Errorf("scale %v, want %v", scale, s)
	}
	if want := []int8{-64, 32, 16, 127, 0, 2}; !slices.Equal(q, want) {
		t.Errorf("q = %v, want %v", q, want)
	}
	// All-positive and all-zero tensors: 0 is part of the range; eps floor.
	if _, s := QuantizeWeightsPerTensor([]float32{0.5, 1}); s != 1/127.5 {
		t.Errorf("positive tensor: scale %v, want 1/127.5", s)
	}
	if q, s := QuantizeWeightsPerTensor([]float32{0, 0}); s != eps32 || q[0] != 0 {
		t.Errorf("zero tensor: %v, %v; want [0 0], eps", q, s)
	}
}

func TestQuantizeWeightsPerChannelAndBlock(t *testing.T) {
	w := []float32{
		1, -2, 0.5, 4, // row 0
		0.1, 0.2, -0.3, 0.05, // row 1
	}
	q, sc := QuantizeWeightsPerChannel(w, 2)
	if want := []float32{4 / 127.5, float32(0.3) / 127.5}; !slices.Equal(sc, want) {
		t.Errorf("channel scales %v, want %v", sc, want)
	}
	// row 0: w·31.875 = 31.875, −63.75, 15.9375, 127.5 → 32, −64, 16, 127(clamped)
	if !slices.Equal(q[:4], []int8{32, -64, 16, 127}) {
		t.Errorf("channel row 0 = %v", q[:4])
	}
	q, sc = QuantizeWeightsPerBlock(w, 2, 2)
	if want := []float32{2 / 127.5, 4 / 127.5, float32(0.2) / 127.5, float32(0.3) / 127.5}; !slices.Equal(sc, want) {
		t.Errorf("block scales %v, want %v", sc, want)
	}
	// row 0 block 0: scale = float32(2/127.5) = 0.015686275, its float32
	// inverse 63.749996, so w·inv = 63.749996, −127.49999 → 64, −127 (the
	// product by the inverse, not 2/scale = 127.5 → −128; PyTorch agrees).
	if !slices.Equal(q[:2], []int8{64, -127}) {
		t.Errorf("block row 0 = %v", q[:2])
	}
	// A short last block.
	_, sc = QuantizeWeightsPerBlock([]float32{1, 2, 3, 4, 5}, 1, 2)
	if len(sc) != 3 || sc[2] != 5/127.5 {
		t.Errorf("short last block: scales %v", sc)
	}
}

func TestChooseActivationParams(t *testing.T) {
	for _, c := range []struct {
		lo, hi  float32
		qmax    int32
		scale   float32
		zp      int32
		comment string
	}{
		{-1, 1, 255, float32(2.0 / 255), 128, "zp = 0 + 1/(2/255) = 127.5 → 128 (half even)"},
		{-1, 1, 127, float32(2.0 / 127), 64, "63.5 → 64"},
		{0.5, 2, 255, float32(2.0 / 255), 0, "range stretched to 0"},
		{-2, -0.5, 127, float32(2.0 / 127), 127, "all negative"},
		{0, 0, 255, 0.1, 0, "empty range: scale 0.1"},
		{0, 1e-3, 255, 6.1e-5, 0, "scale below 6.1e-5 is raised"},
	} {
		s, z := ChooseActivationParams(c.lo, c.hi, 0, c.qmax)
		if s != c.scale || z != c.zp {
			t.Errorf("%s: (%v, %v, %d) = %v, %d; want %v, %d", c.comment, c.lo, c.hi, c.qmax, s, z, c.scale, c.zp)
		}
	}
}

func TestQuantizeEmbeddingRows(t *testing.T) {
	// row: min −1, max 1.55: scale 0.01, zp 100; 0.005/0.01+100 = 100.5 → 100 (even)
	q, s, z := QuantizeEmbeddingRows([]float32{-1, 1.55, 0, 0.5}, 1)
	if s[0] != float32(2.55)/255 || z[0] != 1/s[0] {
		t.Errorf("scale, zp = %v, %v", s[0], z[0])
	}
	if q[0] != 0 || q[1] != 255 || q[2] != 100 || q[3] != 150 {
		t.Errorf("q = %v, want [0 255 100 150]", q)
	}
	// A constant row gets scale 1.
	if _, s, _ := QuantizeEmbeddingRows([]float32{3, 3}, 1); s[0] != 1 {
		t.Errorf("constant row: scale %v, want 1", s[0])
	}
}

func randWeights(r *rand.Rand, n int, amp float32) []float32 {
	w := make([]float32, n)
	for i := range w {
		w[i] = (r.Float32()*2 - 1) * amp
	}
	return w
}

// TestKernelsAgree checks the q8 product against the pure-Go reference:
// same integer sums and the same float32 operations, so bit for bit.
func TestKernelsAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sh := range [][3]int{{1, 1, 1}, {3, 17, 5}, {4, 64, 33}, {7, 100, 70}} {
		m, n, k := sh[0], sh[1], sh[2]
		w := randWeights(r, n*k, 0.3)
		for _, gran := range []string{"tensor", "channel", "block8", "block32"} {
			wt, err := quantizeWeight(w, n, k, Scheme{Weights: gran}, "dec", nil)
			if err != nil {
				t.Fatal(err)
			}
			a := make([]uint8, m*k)
			for i := range a {
				a[i] = uint8(r.IntN(int(q8.MaxExactU8()) + 1))
			}
			bias := randWeights(r, n, 1)
			// A guard band after dst catches writes past the end.
			const guard = 16
			got := make([]float32, m*n+guard)
			want := make([]float32, m*n)
			for i := range got[m*n:] {
				got[m*n+i] = -7
			}
			wt.kern.mulDequant(nil, got[:m*n], a, m, 0.01, 37, bias)
			genericKernel{wt, wt.Q()}.mulDequant(want, a, m, 0.01, 37, bias)
			if !slices.Equal(got[:m*n], want) {
				t.Errorf("%v %s: q8 (%s) and generic products differ", sh, gran, q8.Kernel())
			}
			for i, v := range got[m*n:] {
				if v != -7 {
					t.Errorf("%v %s: guard[%d] overwritten", sh, gran, i)
				}
			}
		}
	}
}

// TestBlockProduct checks the block kernel against float64 arithmetic on
// the dequantized operands; the only difference is float32 rounding of
// a few sums (relative 1e-6).
func TestBlockProduct(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	m, n, k := 3, 9, 100
	w := randWeights(r, n*k, 0.5)
	wt, err := quantizeWeight(w, n, k, Scheme{Weights: "block32"}, "dec", nil)
	if err != nil {
		t.Fatal(err)
	}
	if wt.Block != 32 || len(wt.Scales) != n*4 {
		t.Fatalf("block weight: block %d, %d scales", wt.Block, len(wt.Scales))
	}
	a := make([]uint8, m*k)
	for i := range a {
		a[i] = uint8(r.IntN(256))
	}
	sa, za := float32(0.02), int32(100)
	got := make([]float32, m*n)
	wt.kern.requireExact(255) // a reaches 255
	wt.kern.mulDequant(nil, got, a, m, sa, za, nil)
	dq := wt.Dequantize()
	for i := range m {
		for j := range n {
			var want float64
			for p := range k {
				want += float64(sa) * float64(int32(a[i*k+p])-za) * float64(dq[j*k+p])
			}
			if d := math.Abs(float64(got[i*n+j]) - want); d > 1e-5*(1+math.Abs(want)) {
				t.Errorf("(%d,%d) = %v, want %v", i, j, got[i*n+j], want)
			}
		}
	}
}

func TestModuleReprs(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	p := randomParams(r, 33278/1000, 512/16, 256/16, 5)
	m, err := Quantize(p, Scheme{Weights: "channel", Embedding8: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ got, want string }{
		{m.RNN.Repr(m.Dropout), "DynamicQuantizedLSTM(32, 16, num_layers=5, dropout=0.5)"},
		{m.Decoder.String(), "DynamicQuantizedLinear(in_features=16, out_features=33, dtype=torch.qint8, qscheme=torch.per_channel_affine)"},
		{m.Encoder.String(), "QuantizedEmbedding(num_embeddings=33, embedding_dim=32, dtype=torch.quint8, qscheme=torch.per_channel_affine_float_qparams)"},
		{NewRNN(model.LSTM, nil, 512, 256, 127).Repr(0), "DynamicQuantizedLSTM(512, 256, num_layers=0)"},
	} {
		if c.got != c.want {
			t.Errorf("String() = %s, want %s", c.got, c.want)
		}
	}
	m, _ = Quantize(p, PyTorch)
	if !strings.Contains(m.String(), "(decoder): DynamicQuantizedLinear(in_features=16, out_features=33, dtype=torch.qint8, qscheme=torch.per_tensor_affine)") {
		t.Errorf("model repr:\n%s", m)
	}
}

func randomParams(r *rand.Rand, ntoken, ninp, nhid, nlayers int) *model.Params {
	p := &model.Params{NToken: ntoken, NInp: ninp, NHid: nhid,
		Encoder: randWeights(r, ntoken*ninp, 0.1), DecoderW: randWeights(r, ntoken*nhid, 0.1),
		DecoderB: randWeights(r, ntoken, 0.01)}
	amp := float32(1 / math.Sqrt(float64(nhid)))
	for k := range nlayers {
		in := ninp
		if k > 0 {
			in = nhid
		}
		p.Layers = append(p.Layers, model.LayerParams{
			Wih: randWeights(r, 4*nhid*in, amp), Whh: randWeights(r, 4*nhid*nhid, amp),
			Bih: randWeights(r, 4*nhid, amp), Bhh: randWeights(r, 4*nhid, amp)})
	}
	return p
}

func TestQuantizeRejects(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	p := randomParams(r, 10, 4, 3, 2)
	p.Layers[1].Whh = p.Layers[1].Whh[:5]
	if _, err := Quantize(p, PyTorch); err == nil || !strings.Contains(err.Error(), "layer 1") {
		t.Errorf("short W_hh: error %v", err)
	}
	if _, err := Quantize(nil, PyTorch); err == nil {
		t.Error("nil params: no error")
	}
}

// TestForwardAllocs checks that a quantized model allocates nothing per
// Forward once its Work's buffers exist (one thread: the pool's closures
// allocate by themselves).
func TestForwardAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	p := randomParams(r, 50, 12, 10, 2)
	for _, name := range []string{"pytorch", "channel-act8-emb8", "block32"} {
		s, _ := ParseScheme(name)
		m, err := Quantize(p, s)
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]int32, 5*3)
		for i := range ids {
			ids[i] = int32(r.IntN(50))
		}
		st := m.NewState(3)
		logits := make([]float32, 5*3*50)
		w := model.NewWork(nil)
		m.Forward(w, logits, ids, 5, 3, st)
		if n := testing.AllocsPerRun(20, func() { m.Forward(w, logits, ids, 5, 3, st) }); n != 0 {
			t.Errorf("%s: %v allocations per Forward, want 0", name, n)
		}
	}
}

// TestSaveLoad checks quantize → save → load → identical logits, bit for
// bit, for several schemes and for the fp32 model.
func TestSaveLoad(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	p := randomParams(r, 40, 12, 10, 3)
	vocab := make([]string, 40)
	for i := range vocab {
		vocab[i] = string(rune('a'+i%26)) + strings.Repeat("\"<é>", i%3)
	}
	ids := make([]int32, 6*2)
	for i := range ids {
		ids[i] = int32(r.IntN(40))
	}
	dir := t.TempDir()
	for _, name := range []string{"fp32", "pytorch", "act8", "channel-act8-emb8", "block32", "block8-emb8", "tensor-emb8"} {
		var m *model.Model
		if name == "fp32" {
			m = model.New(*p, 0.25)
		} else {
			s, err := ParseScheme(name)
			if err != nil {
				t.Fatal(err)
			}
			if m, err = Quantize(p, s); err != nil {
				t.Fatal(err)
			}
		}
		path := filepath.Join(dir, name+".safetensors")
		if err := Save(path, m, vocab, map[string]string{"source": "test"}); err != nil {
			t.Fatal(err)
		}
		m2, v2, md, err := LoadMeta(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(v2, vocab) || md["source"] != "test" || md["scheme"] != name && !(name == "act8" && md["scheme"] == "tensor-act8") {
			t.Errorf("%s: vocab or metadata changed: %v", name, md)
		}
		if m2.String() != m.String() {
			t.Errorf("%s: repr %s, want %s", name, m2, m)
		}
		a := make([]float32, len(ids)*40)
		b := make([]float32, len(ids)*40)
		m.Forward(nil, a, ids, 6, 2, m.NewState(2))
		m2.Forward(nil, b, ids, 6, 2, m2.NewState(2))
		if !slices.Equal(a, b) {
			t.Errorf("%s: logits differ after save and load", name)
		}
	}
	if err := Save(filepath.Join(dir, "x"), model.New(*p, 0), vocab[:3], nil); err == nil {
		t.Error("Save with a short vocabulary: no error")
	}
	if err := Save(filepath.Join(dir, "x"), model.New(*p, 0), nil, map[string]string{"scheme": "x"}); err == nil {
		t.Error("Save with a reserved metadata key: no error")
	}
}

// TestLoadRejects checks that damaged model files give errors naming the
// file and the problem.
func TestLoadRejects(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	p := randomParams(r, 20, 6, 5, 2)
	m, _ := Quantize(p, PyTorch)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	if err := Save(good, m, nil, nil); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(good)
	for _, c := range []struct{ name, from, to, want string }{
		{"scheme", `"scheme":"pytorch"`, `"scheme":"pytorcx"`, "metadata scheme"},
		{"format", `"format":"lstmq"`, `"format":"lstmx"`, "not an lstmq model"},
		{"nlayers", `"nlayers":"2"`, `"nlayers":"3"`, `"rnn.bias_ih_l2" missing`},
		{"dtype", `"decoder.weight":{"data_offsets":[`, `"decoder.weight":{"data_offsets":[`, ""},
		{"act", `"act_qmax":"127"`, `"act_qmax":"200"`, "act_qmax"},
		{"ntoken", `"ntoken":"20"`, `"ntoken":"-4"`, "ntoken"},
	} {
		if c.want == "" {
			continue
		}
		bad := bytes.Replace(b, []byte(c.from), []byte(c.to), 1)
		if bytes.Equal(bad, b) {
			t.Fatalf("%s: %q not in the file", c.name, c.from)
		}
		path := filepath.Join(dir, c.name+".safetensors")
		os.WriteFile(path, bad, 0o644)
		_, _, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming %s and containing %q", c.name, err, path, c.want)
		}
	}
	// Truncated file.
	path := filepath.Join(dir, "short.safetensors")
	os.WriteFile(path, b[:len(b)-3], 0o644)
	if _, _, err := Load(path); err == nil {
		t.Error("truncated file: no error")
	}
}

// TestReport runs the per-layer report on the PyTorch fixture model.
func TestReport(t *testing.T) {
	mf, p := loadModelFixture(t)
	data := corpus.Batchify(mf.EvalTokens, mf.Batch)
	rows, err := Report(context.Background(), nil, p, mf.Dropout, Scheme{Weights: "tensor", Embedding8: true}, data, mf.BPTT)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, r := range rows {
		names = append(names, r.Name)
		t.Logf("%-8s SQNR %6.2f dB  loss %.6f  %s", r.Name, r.SQNR, r.Loss, r.Module)
	}
	if want := []string{"fp32", "encoder", "rnn.l0", "rnn.l1", "decoder", "all"}; !slices.Equal(names, want) {
		t.Fatalf("rows %v, want %v", names, want)
	}
	if math.Abs(rows[0].Loss-mf.FP32Loss) > 1e-6 {
		t.Errorf("fp32 loss %v, want %v", rows[0].Loss, mf.FP32Loss)
	}
	// 8-bit quantization of these layers gives 25–50 dB; each layer alone
	// moves the loss by well under 1%.
	for _, r := range rows[1:] {
		if !(r.SQNR > 20 && r.SQNR < 80) || math.Abs(r.Loss-rows[0].Loss) > 0.01*rows[0].Loss {
			t.Errorf("%s: SQNR %v dB, loss %v", r.Name, r.SQNR, r.Loss)
		}
	}
	if _, err := Report(context.Background(), nil, p, 0, PyTorch, data, 0); err == nil {
		t.Error("bptt 0: no error")
	}
}

// TestSchemeLosses logs the evaluation loss of every scheme on the fixture
// model and checks that each stays close to fp32.
func TestSchemeLosses(t *testing.T) {
	mf, p := loadModelFixture(t)
	data := corpus.Batchify(mf.EvalTokens, mf.Batch)
	for _, name := range []string{"pytorch", "act8", "channel", "channel-act8", "channel-act8-emb8", "block32", "block32-act8", "block64-act8", "tensor-emb8"} {
		s, _ := ParseScheme(name)
		rows, err := Report(context.Background(), nil, p, mf.Dropout, s, data, mf.BPTT)
		if err != nil {
			t.Fatal(err)
		}
		all := rows[len(rows)-1]
		t.Logf("%-18s loss %.6f (fp32 %.6f, Δ %+.2e)  logits SQNR %.2f dB", name, all.Loss, mf.FP32Loss, all.Loss-mf.FP32Loss, all.SQNR)
		if math.Abs(all.Loss-mf.FP32Loss) > 0.005 {
			t.Errorf("%s: loss %v, fp32 %v", name, all.Loss, mf.FP32Loss)
		}
	}
}

// TestSchemesHeavyTailed compares the schemes' logits SQNR on a random
// model whose weights have heavy tails (Student's t, 3 degrees of freedom),
// as trained weights do: one outlier sets a per-tensor scale for all rows,
// so per-channel scales gain several dB and blocks a little more.
func TestSchemesHeavyTailed(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	p := randomParams(r, 500, 64, 64, 2)
	heavy := func(w []float32, amp float64) {
		for i := range w {
			var chi float64
			for range 3 {
				g := r.NormFloat64()
				chi += g * g
			}
			w[i] = float32(amp * r.NormFloat64() / math.Sqrt(chi/3))
		}
	}
	for _, l := range p.Layers {
		heavy(l.Wih, 0.07)
		heavy(l.Whh, 0.07)
	}
	heavy(p.DecoderW, 0.07)
	heavy(p.Encoder, 0.1)
	ids := make([]int32, 35*2)
	for i := range ids {
		ids[i] = int32(r.IntN(500))
	}
	fp := model.New(*p, 0)
	ref := make([]float32, len(ids)*500)
	fp.Forward(nil, ref, ids, 35, 2, fp.NewState(2))
	db := map[string]float64{}
	for _, name := range []string{"pytorch", "act8", "channel", "channel-act8", "block32-act8", "channel-act8-emb8"} {
		s, _ := ParseScheme(name)
		m, err := Quantize(p, s)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float32, len(ref))
		m.Forward(nil, out, ids, 35, 2, m.NewState(2))
		db[name] = SQNR(ref, out)
		t.Logf("%-18s logits SQNR %.2f dB", name, db[name])
	}
	if db["channel"] < db["pytorch"]+3 || db["channel-act8"] < db["channel"] || db["block32-act8"] < db["channel-act8"] {
		t.Errorf("SQNR not ordered pytorch+3 dB ≤ channel ≤ channel-act8 ≤ block32-act8: %v", db)
	}
}

// TestWeightQ checks that Q rebuilds the row-major int8 matrix given to
// NewWeight from the packed kernels, for every granularity, with sizes
// around q8's panels (16 rows, 4 inputs) and partial last blocks.
func TestWeightQ(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, sh := range [][2]int{{1, 1}, {17, 5}, {16, 64}, {33, 70}} {
		n, k := sh[0], sh[1]
		q := make([]int8, n*k)
		for i := range q {
			q[i] = int8(r.IntN(255) - 127)
		}
		for _, block := range []int{0, 8, 32} {
			nb := 1
			if block > 0 {
				nb = (k + block - 1) / block
			}
			for _, ns := range []int{1, n * nb} {
				if block > 0 && ns == 1 && n*nb != 1 {
					continue
				}
				scales := make([]float32, ns)
				for i := range scales {
					scales[i] = 0.01
				}
				w, err := NewWeight(q, n, k, scales, block)
				if err != nil {
					t.Fatal(err)
				}
				if got := w.Q(); !slices.Equal(got, q) {
					t.Errorf("%d×%d block %d, %d scales: Q() differs from the matrix given", n, k, block, ns)
				}
			}
		}
	}
}
