package quant

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/lstmq/lstmq/internal/f16"
	"github.com/lstmq/lstmq/internal/f32"
	"github.com/lstmq/lstmq/model"
	"github.com/lstmq/lstmq/safetensors"
)

// File format (safetensors). Tensors, with PyTorch's state_dict names:
//
//	encoder.weight                       F32 [ntoken, ninp], or U8 with Embedding8:
//	encoder.weight.scale, .zero_point    F32 [ntoken] each (float qparams)
//	rnn.weight_ih_l{k}, rnn.weight_hh_l{k}, decoder.weight
//	                                     I8 [rows, cols] (F32 if not quantized)
//	  {name}.scale                       F32 [1] (tensor), [rows] (channel) or
//	                                     [rows, ceil(cols/block)] (block)
//	  {name}.zero_point                  I32, same shape as the scale (all 0)
//	rnn.bias_ih_l{k}, rnn.bias_hh_l{k}   F32 [G·nhid], G = 4 (LSTM), 3 (GRU), 1 (RNN)
//	decoder.bias                         F32 [ntoken] (absent if the model has none)
//
// Under the 16-bit schemes (fp16, bf16) the weight matrices are stored in
// their format, with no scale or zero point:
//
//	encoder.weight                       F16 or BF16 [ntoken, ninp] (F32 with -emb32,
//	                                     U8 with scale and zero_point with -emb8)
//	rnn.weight_ih_l{k}, rnn.weight_hh_l{k}, decoder.weight
//	                                     F16 or BF16 [rows, cols]
//
// and the biases F32 as above. F16 is IEEE binary16, BF16 the top half of
// a float32, both little-endian, as safetensors defines them.
//
// A matrix in a low-bit format (q{b}_0, q{b}_1, q{b}_k: LowBit, b bits
// per code, blocks of 32 inputs, super-blocks of 256) is stored as
//
//	{name}                               U8 [rows, ceil(cols·b/8)]: the codes u ∈ [0, 2^b − 1]
//	                                     of each row packed LSB first (4 bits: code 2i in the
//	                                     low nibble of byte i, code 2i+1 in the high nibble)
//	{name}.scale                         F16 [rows, ceil(cols/32)] (_0, _1) or [rows, ceil(cols/256)] (_k)
//	{name}.min                           F16, as .scale (_1, _k)
//	{name}.block_scale, .block_min       U8 [rows, ceil(cols/32)], values 0..63 (_k)
//
// and reads back as d·u + m per block: _0 d = scale, m = −2^(b−1)·d; _1
// d = scale, m = min; _k d = scale·block_scale, m = −min·block_min (the
// super-block's scale and min). A b-bit embedding (-emb{b}, b < 8) packs
// its codes the same way, with its F32 scale and zero_point as -emb8's.
// The scheme in the metadata names each matrix's format (its plan).
//
// __metadata__ (all strings): format "lstmq", format_version "1", ntoken,
// ninp, nhid, nlayers, dropout, rnn_type (GRU, RNN_TANH or RNN_RELU; absent
// for LSTM), scheme (a ParseScheme name, or "fp32"),
// act_qmax (127 or 255; absent under the 16-bit schemes), vocab (the word
// list as a JSON array of strings, if saved), and the caller's own entries.
// Under scheme pytorch an RNN_TANH or RNN_RELU keeps F32 recurrent weights,
// as quantize_dynamic leaves nn.RNN in float.
const (
	formatName    = "lstmq"
	formatVersion = "1"
)

var reservedMeta = []string{"format", "format_version", "ntoken", "ninp", "nhid", "nlayers",
	"dropout", "rnn_type", "scheme", "act_qmax", "vocab"}

// Save writes m (quantized by Quantize, or fp32 from model.New), its
// vocabulary (nil, or one word per token id) and meta to path, atomically.
func Save(path string, m *model.Model, vocab []string, meta map[string]string) error {
	ts, md, err := encodeModel(m, vocab)
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	for k, v := range meta {
		if slices.Contains(reservedMeta, k) {
			return fmt.Errorf("save %s: metadata key %q is reserved", path, k)
		}
		md[k] = v
	}
	return safetensors.Write(path, ts, md)
}

// FileSize returns the bytes Save would write for m, vocab and meta.
func FileSize(m *model.Model, vocab []string, meta map[string]string) (int64, error) {
	ts, md, err := encodeModel(m, vocab)
	if err != nil {
		return 0, err
	}
	maps.Copy(md, meta)
	var c counter
	err = safetensors.Encode(&c, ts, md)
	return int64(c), err
}

type counter int64

func (c *counter) Write(b []byte) (int, error) { *c += counter(len(b)); return len(b), nil }

func encodeModel(m *model.Model, vocab []string) ([]safetensors.Tensor, map[string]string, error) {
	if _, ok := m.RNN.(*HalfRNN); ok {
		return encodeHalf(m, vocab)
	}
	ntoken, ninp := m.Encoder.Tokens(), m.Encoder.Dim()
	if vocab != nil && len(vocab) != ntoken {
		return nil, nil, fmt.Errorf("vocabulary of %d words for %d tokens", len(vocab), ntoken)
	}
	var ts []safetensors.Tensor
	scheme := Scheme{}
	qmax := int32(127)
	switch e := m.Encoder.(type) {
	case *model.Embedding:
		ts = append(ts, safetensors.FromF32("encoder.weight", []int{ntoken, ninp}, e.Weight))
	case *Embedding:
		if e.Bits < 8 {
			scheme.EmbeddingBits = e.Bits
		} else {
			scheme.Embedding8 = true
		}
		ts = append(ts, e.tensors()...)
	default:
		return nil, nil, fmt.Errorf("cannot save an encoder of type %T", m.Encoder)
	}
	addWeight := func(name string, w *Weight) {
		if w.low != nil {
			ts = append(ts, w.low.tensors(name)...)
			return
		}
		ts = append(ts, safetensors.FromI8(name, []int{w.Rows, w.Cols}, w.Q()))
		shape := []int{len(w.Scales)}
		if w.Block > 0 {
			shape = []int{w.Rows, len(w.Scales) / max(w.Rows, 1)}
		}
		ts = append(ts, safetensors.FromF32(name+".scale", shape, w.Scales),
			safetensors.FromI32(name+".zero_point", shape, make([]int32, len(w.Scales))))
	}
	addF32 := func(name string, m *f32.Matrix) {
		ts = append(ts, safetensors.FromF32(name, []int{m.Rows(), m.Cols()}, m.Data()))
	}
	quantized, floatRNN, rnnKept := false, false, false
	switch r := m.RNN.(type) {
	case *model.RNN:
		floatRNN = true
		for k, ly := range r.Layer {
			addF32(model.LayerKey("weight_ih", k), ly.Wih)
			addF32(model.LayerKey("weight_hh", k), ly.Whh)
			ts = appendBiases(ts, k, ly.Bih, ly.Bhh)
		}
	case *RNN:
		quantized = true
		qmax = r.ActMax()
		for k, ly := range r.Layer {
			addWeight(model.LayerKey("weight_ih", k), ly.Wih)
			addWeight(model.LayerKey("weight_hh", k), ly.Whh)
			ts = appendBiases(ts, k, ly.Bih, ly.Bhh)
		}
	default:
		return nil, nil, fmt.Errorf("cannot save a recurrent network of type %T", m.RNN)
	}
	var bias []float32
	switch d := m.Decoder.(type) {
	case *model.Linear:
		if quantized {
			return nil, nil, fmt.Errorf("quantized %s with a float32 decoder is not a saved scheme", m.Kind())
		}
		addF32("decoder.weight", d.W)
		bias = d.Bias
	case *Linear:
		// quantize_dynamic leaves nn.RNN in float: scheme pytorch's RNN_TANH
		// and RNN_RELU have a float recurrent module.
		if rnnKept = floatRNN && m.Kind().Module() == "RNN"; rnnKept {
			quantized, qmax = true, 127
		}
		if !quantized || d.ActMax() != qmax {
			return nil, nil, fmt.Errorf("decoder and %s quantized with different schemes", m.Kind())
		}
		addWeight("decoder.weight", d.W)
		scheme.Weights = d.W.kind()
		if d.scheme.Weights != "" {
			scheme.Weights, scheme.Calib, scheme.Plan = d.scheme.Weights, d.scheme.Calib, d.scheme.Plan
		}
		bias = d.Bias
	default:
		return nil, nil, fmt.Errorf("cannot save a decoder of type %T", m.Decoder)
	}
	if bias != nil {
		ts = append(ts, safetensors.FromF32("decoder.bias", []int{ntoken}, bias))
	}
	name := "fp32"
	if quantized {
		scheme.Act8 = qmax == 255
		name = scheme.String()
		if rnnKept && !scheme.keepsRNNFloat(m.Kind()) {
			return nil, nil, fmt.Errorf("a float32 %s with a decoder quantized as %s is not a saved scheme (only pytorch keeps nn.RNN in float)", m.Kind(), name)
		}
	} else if scheme.Embedding8 {
		return nil, nil, fmt.Errorf("int8 embedding with a float32 %s is not a saved scheme", m.Kind())
	}
	md, err := fileMeta(m, vocab, name)
	if err != nil {
		return nil, nil, err
	}
	md["act_qmax"] = strconv.Itoa(int(qmax))
	return ts, md, nil
}

// fileMeta returns the metadata every model file has.
func fileMeta(m *model.Model, vocab []string, scheme string) (map[string]string, error) {
	md := map[string]string{
		"format": formatName, "format_version": formatVersion,
		"ntoken": strconv.Itoa(m.Encoder.Tokens()), "ninp": strconv.Itoa(m.Encoder.Dim()), "nhid": strconv.Itoa(m.RNN.Hidden()),
		"nlayers": strconv.Itoa(m.RNN.Layers()), "dropout": strconv.FormatFloat(m.Dropout, 'g', -1, 64),
		"scheme": scheme,
	}
	if k := m.Kind(); k != model.LSTM {
		md["rnn_type"] = k.String()
	}
	if vocab != nil {
		b, err := json.Marshal(vocab)
		if err != nil {
			return nil, err
		}
		md["vocab"] = string(b)
	}
	return md, nil
}

// halfDType is the safetensors dtype of a 16-bit format.
func halfDType(f f16.Format) safetensors.DType {
	if f == f16.BF16 {
		return safetensors.BF16
	}
	return safetensors.F16
}

// encodeHalf encodes a model of a 16-bit scheme (HalfRNN).
func encodeHalf(m *model.Model, vocab []string) ([]safetensors.Tensor, map[string]string, error) {
	ntoken, ninp := m.Encoder.Tokens(), m.Encoder.Dim()
	if vocab != nil && len(vocab) != ntoken {
		return nil, nil, fmt.Errorf("vocabulary of %d words for %d tokens", len(vocab), ntoken)
	}
	r := m.RNN.(*HalfRNN)
	f := r.Format()
	s := Scheme{Weights: f.String()}
	dt := halfDType(f)
	var ts []safetensors.Tensor
	add := func(name string, w *f16.Matrix) error {
		if w.Format() != f {
			return fmt.Errorf("%s is %s in a %s model", name, w.Format(), f)
		}
		ts = append(ts, safetensors.FromBits16(name, dt, []int{w.Rows(), w.Cols()}, w.Bits()))
		return nil
	}
	switch e := m.Encoder.(type) {
	case *HalfEmbedding:
		if e.Format() != f {
			return nil, nil, fmt.Errorf("%s embedding in a %s model", e.Format(), f)
		}
		ts = append(ts, safetensors.FromBits16("encoder.weight", dt, []int{ntoken, ninp}, e.Bits))
	case *model.Embedding:
		s.Embedding32 = true
		ts = append(ts, safetensors.FromF32("encoder.weight", []int{ntoken, ninp}, e.Weight))
	case *Embedding:
		s.Embedding8 = true
		ts = append(ts, safetensors.FromU8("encoder.weight", []int{ntoken, ninp}, e.Q),
			safetensors.FromF32("encoder.weight.scale", []int{ntoken}, e.Scales),
			safetensors.FromF32("encoder.weight.zero_point", []int{ntoken}, e.ZeroPoints))
	default:
		return nil, nil, fmt.Errorf("cannot save an encoder of type %T", m.Encoder)
	}
	for k, ly := range r.Layer {
		if err := add(model.LayerKey("weight_ih", k), ly.Wih); err != nil {
			return nil, nil, err
		}
		if err := add(model.LayerKey("weight_hh", k), ly.Whh); err != nil {
			return nil, nil, err
		}
		ts = appendBiases(ts, k, ly.Bih, ly.Bhh)
	}
	d, ok := m.Decoder.(*HalfLinear)
	if !ok {
		return nil, nil, fmt.Errorf("a %s %s with a decoder of type %T is not a saved scheme", f, m.Kind(), m.Decoder)
	}
	if err := add("decoder.weight", d.W); err != nil {
		return nil, nil, err
	}
	if d.Bias != nil {
		ts = append(ts, safetensors.FromF32("decoder.bias", []int{ntoken}, d.Bias))
	}
	md, err := fileMeta(m, vocab, s.String())
	if err != nil {
		return nil, nil, err
	}
	return ts, md, nil
}

func appendBiases(ts []safetensors.Tensor, k int, bih, bhh []float32) []safetensors.Tensor {
	return append(ts,
		safetensors.FromF32(model.LayerKey("bias_ih", k), []int{len(bih)}, bih),
		safetensors.FromF32(model.LayerKey("bias_hh", k), []int{len(bhh)}, bhh))
}

// Load reads a model written by Save: the model, ready to run, and its
// vocabulary (nil if none was saved). Metadata is in LoadMeta.
func Load(path string) (*model.Model, []string, error) {
	m, vocab, _, err := LoadMeta(path)
	return m, vocab, err
}

// LoadMeta is Load that also returns the file's metadata.
func LoadMeta(path string) (*model.Model, []string, map[string]string, error) {
	// Open checks the header against the file's size, and the tensors are
	// read from the file straight into the model's slices: the file is
	// never in memory as a whole.
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, nil, nil, err
	}
	defer f.Close()
	return loadFile(f, path)
}

// parseModel decodes a model file held in b; name is used in errors.
func parseModel(b []byte, name string) (*model.Model, []string, map[string]string, error) {
	f, err := safetensors.Parse(b, name)
	if err != nil {
		return nil, nil, nil, err // "read NAME: …" already
	}
	return loadFile(f, name)
}

// loadFile decodes the model of the parsed file f; name is used in errors.
func loadFile(f *safetensors.File, name string) (*model.Model, []string, map[string]string, error) {
	m, vocab, err := decodeModel(f)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("load %s: %w", name, err)
	}
	return m, vocab, maps.Clone(f.Metadata), nil
}

type decoder struct {
	f    *safetensors.File
	used map[string]bool
}

func (d *decoder) tensor(name string, dt safetensors.DType, shape ...int) (*safetensors.Tensor, error) {
	t, ok := d.f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("tensor %q missing", name)
	}
	if t.DType != dt || !slices.Equal(t.Shape, shape) {
		return nil, fmt.Errorf("tensor %q is %s%v, want %s%v", name, t.DType, t.Shape, dt, shape)
	}
	d.used[name] = true
	return t, nil
}

func (d *decoder) f32(name string, shape ...int) ([]float32, error) {
	t, err := d.tensor(name, safetensors.F32, shape...)
	if err != nil {
		return nil, err
	}
	return t.F32()
}

// weight reads the int8 or low-bit weight target ("dec", "ih{k}",
// "hh{k}") with its scales, shaped as scheme s says.
func (d *decoder) weight(name string, rows, cols int, s Scheme, target string) (*Weight, error) {
	format := s.weightsFor(target)
	if f, ok := parseLowBit(format); ok {
		return d.lowBit(name, rows, cols, f)
	}
	s = Scheme{Weights: format}
	t, err := d.tensor(name, safetensors.I8, rows, cols)
	if err != nil {
		return nil, err
	}
	q, err := t.I8()
	if err != nil {
		return nil, err
	}
	block := s.Block()
	var want []int
	switch {
	case block > 0 && block < cols:
		want = []int{rows, (cols + block - 1) / block}
	case s.Weights == "tensor":
		block, want = 0, []int{1}
	default:
		block, want = 0, []int{rows}
	}
	scales, err := d.f32(name+".scale", want...)
	if err != nil {
		return nil, err
	}
	zt, err := d.tensor(name+".zero_point", safetensors.I32, want...)
	if err != nil {
		return nil, err
	}
	zp, err := zt.I32()
	if err != nil {
		return nil, err
	}
	for _, z := range zp {
		if z != 0 {
			return nil, fmt.Errorf("tensor %q: zero point %d, want 0 (symmetric)", name+".zero_point", z)
		}
	}
	w, err := NewWeight(q, rows, cols, scales, block)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", name, err)
	}
	return w, nil
}

func metaInt(md map[string]string, key string, lo, hi int) (int, error) {
	s, ok := md[key]
	if !ok {
		return 0, fmt.Errorf("metadata %q missing", key)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("metadata %q = %q, want an integer in [%d, %d]", key, s, lo, hi)
	}
	return n, nil
}

func decodeModel(f *safetensors.File) (*model.Model, []string, error) {
	md := f.Metadata
	if md["format"] != formatName {
		return nil, nil, fmt.Errorf("not an lstmq model (metadata format = %q)", md["format"])
	}
	if md["format_version"] != formatVersion {
		return nil, nil, fmt.Errorf("format version %q, want %s", md["format_version"], formatVersion)
	}
	const big = 1 << 24
	ntoken, err := metaInt(md, "ntoken", 1, big)
	if err != nil {
		return nil, nil, err
	}
	ninp, err := metaInt(md, "ninp", 1, big)
	if err != nil {
		return nil, nil, err
	}
	nhid, err := metaInt(md, "nhid", 1, big)
	if err != nil {
		return nil, nil, err
	}
	nlayers, err := metaInt(md, "nlayers", 1, 1024)
	if err != nil {
		return nil, nil, err
	}
	dropout, err := strconv.ParseFloat(md["dropout"], 64)
	if err != nil || dropout < 0 || dropout > 1 {
		return nil, nil, fmt.Errorf("metadata dropout = %q, want a number in [0, 1]", md["dropout"])
	}
	var vocab []string
	if s, ok := md["vocab"]; ok {
		if err := json.Unmarshal([]byte(s), &vocab); err != nil {
			return nil, nil, fmt.Errorf("metadata vocab: %w", err)
		}
		if len(vocab) != ntoken {
			return nil, nil, fmt.Errorf("metadata vocab has %d words for %d tokens", len(vocab), ntoken)
		}
	}
	kind := model.LSTM
	if t, ok := md["rnn_type"]; ok {
		if kind, err = model.ParseKind(t); err != nil {
			return nil, nil, fmt.Errorf("metadata rnn_type: %w", err)
		}
	}
	fp32 := md["scheme"] == "fp32"
	var s Scheme
	if !fp32 {
		if s, err = ParseScheme(md["scheme"]); err != nil {
			return nil, nil, fmt.Errorf("metadata scheme: %w", err)
		}
	}
	d := &decoder{f: f, used: map[string]bool{}}
	m := &model.Model{Dropout: dropout}
	if hf, ok := s.Half(); ok {
		if _, ok := md["act_qmax"]; ok {
			return nil, nil, fmt.Errorf("metadata act_qmax under the 16-bit scheme %s", s)
		}
		if err := d.decodeHalf(m, s, hf, kind, ntoken, ninp, nhid, nlayers); err != nil {
			return nil, nil, err
		}
		return m, vocab, nil
	}
	qmax, err := metaInt(md, "act_qmax", 127, 255)
	if err != nil || (qmax != 127 && qmax != 255) {
		return nil, nil, fmt.Errorf("metadata act_qmax = %q, want 127 or 255", md["act_qmax"])
	}
	if !fp32 && s.actMax() != int32(qmax) {
		return nil, nil, fmt.Errorf("metadata act_qmax %d does not fit scheme %s", qmax, s)
	}
	if s.Embedding8 || s.EmbeddingBits > 0 {
		if m.Encoder, err = d.decodeEmbedding(ntoken, ninp, cmp.Or(s.EmbeddingBits, 8)); err != nil {
			return nil, nil, err
		}
	} else {
		w, err := d.f32("encoder.weight", ntoken, ninp)
		if err != nil {
			return nil, nil, err
		}
		m.Encoder = model.NewEmbedding(w, ntoken, ninp)
	}
	h4 := kind.Gates() * nhid
	// Scheme pytorch keeps an RNN_TANH's or RNN_RELU's weights in float.
	floatRNN := fp32
	if t, ok := f.Tensor(model.LayerKey("weight_ih", 0)); ok && !fp32 && s.keepsRNNFloat(kind) {
		floatRNN = t.DType == safetensors.F32
	}
	var (
		flayers []model.Layer
		qlayers []Layer
	)
	for k := range nlayers {
		in := ninp
		if k > 0 {
			in = nhid
		}
		bih, err := d.f32(model.LayerKey("bias_ih", k), h4)
		if err != nil {
			return nil, nil, err
		}
		bhh, err := d.f32(model.LayerKey("bias_hh", k), h4)
		if err != nil {
			return nil, nil, err
		}
		nih, nhh := model.LayerKey("weight_ih", k), model.LayerKey("weight_hh", k)
		if floatRNN {
			wih, err := d.f32(nih, h4, in)
			if err != nil {
				return nil, nil, err
			}
			whh, err := d.f32(nhh, h4, nhid)
			if err != nil {
				return nil, nil, err
			}
			flayers = append(flayers, model.Layer{Wih: f32.NewMatrix(wih, h4, in),
				Whh: f32.NewMatrix(whh, h4, nhid), Bih: bih, Bhh: bhh})
			continue
		}
		wih, err := d.weight(nih, h4, in, s, "ih"+strconv.Itoa(k))
		if err != nil {
			return nil, nil, err
		}
		whh, err := d.weight(nhh, h4, nhid, s, "hh"+strconv.Itoa(k))
		if err != nil {
			return nil, nil, err
		}
		qlayers = append(qlayers, Layer{Wih: wih, Whh: whh, Bih: bih, Bhh: bhh})
	}
	var bias []float32
	if _, ok := f.Tensor("decoder.bias"); ok {
		if bias, err = d.f32("decoder.bias", ntoken); err != nil {
			return nil, nil, err
		}
	}
	if floatRNN {
		m.RNN = model.NewRNN(kind, flayers, ninp, nhid)
	} else {
		m.RNN = NewRNN(kind, qlayers, ninp, nhid, int32(qmax))
	}
	if fp32 {
		w, err := d.f32("decoder.weight", ntoken, nhid)
		if err != nil {
			return nil, nil, err
		}
		m.Decoder = model.NewLinear(w, ntoken, nhid, bias)
	} else {
		w, err := d.weight("decoder.weight", ntoken, nhid, s, "dec")
		if err != nil {
			return nil, nil, err
		}
		dec := NewLinear(w, bias, int32(qmax))
		dec.scheme = s
		m.Decoder = dec
	}
	if err := d.checkUsed(); err != nil {
		return nil, nil, err
	}
	return m, vocab, nil
}

// checkUsed refuses a file with tensors the model did not read.
func (d *decoder) checkUsed() error {
	for _, t := range d.f.Tensors {
		if !d.used[t.Name] {
			return fmt.Errorf("unexpected tensor %q", t.Name)
		}
	}
	return nil
}

// half reads a 16-bit matrix of format f.
func (d *decoder) half(name string, f f16.Format, rows, cols int) (*f16.Matrix, error) {
	t, err := d.tensor(name, halfDType(f), rows, cols)
	if err != nil {
		return nil, err
	}
	b, err := t.Bits16(t.DType)
	if err != nil {
		return nil, err
	}
	return f16.NewMatrix(b, rows, cols, f), nil
}

// decodeEmbedding8 reads a row-wise 8-bit embedding.
func (d *decoder) decodeEmbedding8(ntoken, ninp int) (*Embedding, error) {
	return d.decodeEmbedding(ntoken, ninp, 8)
}

// decodeEmbedding reads a row-wise embedding of bits bits per code.
func (d *decoder) decodeEmbedding(ntoken, ninp, bits int) (*Embedding, error) {
	t, err := d.tensor("encoder.weight", safetensors.U8, ntoken, packedCols(ninp, bits))
	if err != nil {
		return nil, err
	}
	q, err := t.U8()
	if err != nil {
		return nil, err
	}
	if bits < 8 {
		q = unpackCodes(q, ntoken, ninp, bits)
	}
	sc, err := d.f32("encoder.weight.scale", ntoken)
	if err != nil {
		return nil, err
	}
	zp, err := d.f32("encoder.weight.zero_point", ntoken)
	if err != nil {
		return nil, err
	}
	e, err := NewEmbedding(q, ntoken, ninp, sc, zp)
	if err != nil {
		return nil, err
	}
	e.Bits = bits
	return e, nil
}

// decodeHalf reads the modules of a 16-bit scheme s (format hf) into m.
func (d *decoder) decodeHalf(m *model.Model, s Scheme, hf f16.Format, kind model.Kind, ntoken, ninp, nhid, nlayers int) error {
	var err error
	switch {
	case s.Embedding8:
		if m.Encoder, err = d.decodeEmbedding8(ntoken, ninp); err != nil {
			return err
		}
	case s.Embedding32:
		w, err := d.f32("encoder.weight", ntoken, ninp)
		if err != nil {
			return err
		}
		m.Encoder = model.NewEmbedding(w, ntoken, ninp)
	default:
		t, err := d.tensor("encoder.weight", halfDType(hf), ntoken, ninp)
		if err != nil {
			return err
		}
		b, err := t.Bits16(t.DType)
		if err != nil {
			return err
		}
		if m.Encoder, err = NewHalfEmbedding(b, ntoken, ninp, hf); err != nil {
			return err
		}
	}
	gh := kind.Gates() * nhid
	layers := make([]HalfLayer, nlayers)
	for k := range nlayers {
		in := ninp
		if k > 0 {
			in = nhid
		}
		ly := &layers[k]
		if ly.Bih, err = d.f32(model.LayerKey("bias_ih", k), gh); err != nil {
			return err
		}
		if ly.Bhh, err = d.f32(model.LayerKey("bias_hh", k), gh); err != nil {
			return err
		}
		if ly.Wih, err = d.half(model.LayerKey("weight_ih", k), hf, gh, in); err != nil {
			return err
		}
		if ly.Whh, err = d.half(model.LayerKey("weight_hh", k), hf, gh, nhid); err != nil {
			return err
		}
	}
	var bias []float32
	if _, ok := d.f.Tensor("decoder.bias"); ok {
		if bias, err = d.f32("decoder.bias", ntoken); err != nil {
			return err
		}
	}
	dw, err := d.half("decoder.weight", hf, ntoken, nhid)
	if err != nil {
		return err
	}
	m.RNN = NewHalfRNN(kind, layers, ninp, nhid)
	m.Decoder = NewHalfLinear(dw, bias)
	return d.checkUsed()
}
