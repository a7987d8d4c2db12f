package quant

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/lstmq/lstmq/checkpoint"
	"github.com/lstmq/lstmq/internal/errkind"
	"github.com/lstmq/lstmq/internal/f16"

	"github.com/lstmq/lstmq/model"
	"github.com/lstmq/lstmq/pth"
)

// The state dict of torch.ao.quantization.quantize_dynamic(model,
// {nn.LSTM, nn.Linear}, dtype=torch.qint8) (see package pth for how these
// values are pickled):
//
//	encoder.weight                           ntoken×ninp float
//	rnn._all_weight_values.{k}.param         CellParamsBase "quantized_dynamic" of
//	                                         layer k: packed (W_ih, b_ih), (W_hh, b_hh),
//	                                         W qint8 4·nhid×in and 4·nhid×nhid
//	decoder._packed_params._packed_params    (W qint8 ntoken×nhid, bias ntoken or None)
//	decoder._packed_params.dtype             torch.qint8
//	decoder.scale, decoder.zero_point        output qparams, unused by dynamic modules
//
// Weights are symmetric: zero points 0, per tensor (one scale) or per
// channel along axis 0 (one scale per output row).
//
// With dtype=torch.float16 the keys are the same; the decoder's dtype is
// torch.float16, each layer's CellParamsBase is "quantized_dynamic_fp16"
// with the packed (W_ih, b_ih) and (W_hh, b_hh) alone, and every packed
// weight is a float32 tensor holding float16 values (see package pth).
// Such a file runs as scheme fp16-emb32: the embedding stays float32, as
// quantize_dynamic leaves nn.Embedding alone.

var cellKey = regexp.MustCompile(`^rnn\._all_weight_values\.(\d+)\.param$`)

// LoadPth reads the state_dict file of a model quantized by
// quantize_dynamic and returns the model that runs PyTorch's int8 weights
// and scales as they are in the file, with activations quantized to codes
// [0, actMax]: 127 as FBGEMM and oneDNN do (reduce_range), 255 as QNNPACK
// does. scheme names the weights' scheme as ParseScheme does: "pytorch"
// (per tensor) or "channel", with "-act8" for actMax 255, or "mixed".
func LoadPth(path string, actMax int32) (m *model.Model, scheme string, err error) {
	sd, err := pth.Load(path)
	if err != nil {
		return nil, "", err
	}
	if m, scheme, err = FromStateDict(sd, actMax); err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	return m, scheme, nil
}

// FromStateDict checks a quantized state dict against the key table above
// and builds the model: the embedding fp32, the LSTM and the decoder this
// package's LSTM and Linear over the file's int8 weights (shared, not
// copied) and scales (rounded to float32, as PyTorch's kernels use them),
// biases fp32. The file does not say which engine quantized it: the int8
// weights are the same for all; the activations' range, [0, actMax] with
// actMax 127 or 255, is the caller's choice. scheme is as for LoadPth.
func FromStateDict(sd *pth.StateDict, actMax int32) (*model.Model, string, error) {
	if actMax != 127 && actMax != 255 {
		return nil, "", fmt.Errorf("activation range [0, %d]: want 127 or 255", actMax)
	}
	if !sd.Quantized() {
		return nil, "", errors.New("not the state dict of a quantized model")
	}
	nlayers := 0
	for _, k := range sd.Keys {
		switch k {
		case "encoder.weight", "decoder.scale", "decoder.zero_point",
			"decoder._packed_params.dtype", "decoder._packed_params._packed_params":
			continue
		}
		m := cellKey.FindStringSubmatch(k)
		if m == nil {
			return nil, "", errkind.Errorf(checkpoint.ErrKey, "unexpected key %q (not a key of quantize_dynamic's word_language_model LSTM or GRU)", k)
		}
		l, err := strconv.Atoi(m[1])
		if err != nil || l > 10000 {
			return nil, "", errkind.Errorf(checkpoint.ErrKey, "unexpected key %q: layer index out of range", k)
		}
		nlayers = max(nlayers, l+1)
	}
	enc := sd.Tensors["encoder.weight"]
	if enc == nil {
		return nil, "", errkind.Errorf(checkpoint.ErrKey, "missing key %q", "encoder.weight")
	}
	if len(enc.Shape) != 2 || enc.Data == nil || enc.Shape[0] < 1 || enc.Shape[1] < 1 {
		return nil, "", fmt.Errorf("key %q: %s tensor of shape %v, want a float matrix", "encoder.weight", enc.DType, enc.Shape)
	}
	ntoken, ninp := enc.Shape[0], enc.Shape[1]
	if nlayers == 0 {
		return nil, "", errkind.Errorf(checkpoint.ErrKey, "missing key %q", "rnn._all_weight_values.0.param")
	}
	if v := sd.Values["decoder._packed_params.dtype"]; v != nil && v.DType == "float16" {
		return fromStateDictHalf(sd, enc, nlayers)
	}
	if v := sd.Values["decoder._packed_params.dtype"]; v == nil || v.DType != "qint8" {
		return nil, "", fmt.Errorf("key %q: want torch.qint8 or torch.float16", "decoder._packed_params.dtype")
	}
	kinds := map[string]bool{}
	nhid := 0
	kind := model.LSTM
	layers := make([]Layer, nlayers)
	for k := range nlayers {
		key := fmt.Sprintf("rnn._all_weight_values.%d.param", k)
		v := sd.Values[key]
		if v == nil || v.Packed == nil || v.Packed.Class != pth.CellParams {
			return nil, "", errkind.Errorf(checkpoint.ErrKey, "missing key %q (packed params of recurrent layer %d)", key, k)
		}
		c := v.Packed
		switch {
		case c.Kind == "quantized_dynamic_fp16":
			return nil, "", fmt.Errorf("key %q: float16 cell params in a model whose decoder is qint8", key)
		case c.Kind != "quantized_dynamic":
			return nil, "", fmt.Errorf("key %q: cell params of kind %q, want \"quantized_dynamic\"", key, c.Kind)
		case len(c.Packed) != 2:
			return nil, "", fmt.Errorf("key %q: %d packed weights, want W_ih and W_hh", key, len(c.Packed))
		}
		wih, bih, err := linearParams(c.Packed[0], cellBias(c, 0))
		if err != nil {
			return nil, "", fmt.Errorf("key %q: W_ih: %w", key, err)
		}
		whh, bhh, err := linearParams(c.Packed[1], cellBias(c, 1))
		if err != nil {
			return nil, "", fmt.Errorf("key %q: W_hh: %w", key, err)
		}
		if k == 0 {
			nhid = whh.Cols
			// quantize_dynamic packs nn.LSTM (4·nhid rows) and nn.GRU (3·nhid)
			// alike; it leaves nn.RNN in float.
			switch {
			case nhid > 0 && whh.Rows == 3*nhid:
				kind = model.GRU
			case nhid > 0 && whh.Rows != 4*nhid:
				return nil, "", errkind.Errorf(checkpoint.ErrShape, "key %q: W_hh %d×%d is neither an LSTM's (4·%d rows) nor a GRU's (3·%d rows)",
					key, whh.Rows, whh.Cols, nhid, nhid)
			}
		}
		in := ninp
		if k > 0 {
			in = nhid
		}
		gh := kind.Gates() * nhid
		if wih.Rows != gh || wih.Cols != in || whh.Rows != gh || whh.Cols != nhid || bih == nil || bhh == nil {
			return nil, "", errkind.Errorf(checkpoint.ErrShape, "key %q: %s W_ih %d×%d, W_hh %d×%d, biases %t %t; want %d×%d, %d×%d and both biases",
				key, kind, wih.Rows, wih.Cols, whh.Rows, whh.Cols, bih != nil, bhh != nil, gh, in, gh, nhid)
		}
		kinds[wih.kind()], kinds[whh.kind()] = true, true
		layers[k] = Layer{Wih: wih, Whh: whh, Bih: bih, Bhh: bhh}
	}
	if nhid < 1 {
		return nil, "", fmt.Errorf("key %q: empty recurrent module", "rnn._all_weight_values.0.param")
	}
	dv := sd.Values["decoder._packed_params._packed_params"]
	if dv == nil || len(dv.Tuple) != 2 {
		return nil, "", errkind.Errorf(checkpoint.ErrKey, "missing key %q, (weight, bias)", "decoder._packed_params._packed_params")
	}
	dw, db, err := linearParams(&pth.Packed{Class: pth.LinearPackedParams, Tensors: dv.Tuple}, nil)
	if err != nil {
		return nil, "", fmt.Errorf("key %q: %w", "decoder._packed_params._packed_params", err)
	}
	if dw.Rows != ntoken || dw.Cols != nhid {
		return nil, "", errkind.Errorf(checkpoint.ErrShape, "key %q: weight %d×%d, want %d×%d (ntoken×nhid)",
			"decoder._packed_params._packed_params", dw.Rows, dw.Cols, ntoken, nhid)
	}
	kinds[dw.kind()] = true
	scheme := "mixed"
	switch {
	case len(kinds) > 1:
	case kinds["tensor"]:
		scheme = Scheme{Weights: "tensor", Act8: actMax == 255}.String()
	default:
		scheme = Scheme{Weights: "channel", Act8: actMax == 255}.String()
	}
	return &model.Model{
		Encoder: model.NewEmbedding(enc.Data, ntoken, ninp),
		RNN:     NewRNN(kind, layers, ninp, nhid, actMax),
		Decoder: NewLinear(dw, db, actMax),
		Dropout: checkpoint.DefaultDropout,
	}, scheme, nil
}

// cellBias returns the i-th float tensor a CellParams lists (b_ih, b_hh), or
// nil.
func cellBias(c *pth.Packed, i int) *pth.Tensor {
	if i < len(c.Tensors) && c.Tensors[i] != nil && c.Tensors[i].Data != nil {
		return c.Tensors[i]
	}
	return nil
}

// linearParams turns LinearPackedParamsBase's (weight, bias) into a
// quant.Weight and the fp32 bias. The bias is the packed one, which the
// kernels add; fallback, if the packed bias is None, is used instead
// (the CellParams' own copy), else the bias is nil.
func linearParams(p *pth.Packed, fallback *pth.Tensor) (*Weight, []float32, error) {
	if len(p.Tensors) != 2 || p.Tensors[0] == nil {
		return nil, nil, errors.New("packed params without a weight")
	}
	w := p.Tensors[0]
	if w.DType != "qint8" || len(w.Shape) != 2 {
		return nil, nil, fmt.Errorf("weight is a %s tensor of shape %v, want a qint8 matrix", w.DType, w.Shape)
	}
	rows, cols := w.Shape[0], w.Shape[1]
	for _, z := range w.ZeroPoints {
		if z != 0 {
			return nil, nil, fmt.Errorf("weight zero point %d: only symmetric weights (zero point 0) are supported", z)
		}
	}
	switch {
	case w.QScheme == "per_tensor_affine" && len(w.Scales) == 1:
	case w.QScheme == "per_channel_affine" && w.Axis == 0 && len(w.Scales) == rows:
	default:
		return nil, nil, fmt.Errorf("weight of shape %v quantized %s with %d scales along axis %d; want per tensor or per output row",
			w.Shape, w.QScheme, len(w.Scales), w.Axis)
	}
	scales := make([]float32, len(w.Scales))
	for i, s := range w.Scales {
		scales[i] = float32(s)
	}
	qw, err := NewWeight(w.Int8, rows, cols, scales, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("weight: %w", err)
	}
	b := p.Tensors[1]
	if b == nil {
		b = fallback
	}
	if b == nil {
		return qw, nil, nil
	}
	if b.Data == nil || len(b.Shape) != 1 || b.Shape[0] != rows {
		return nil, nil, fmt.Errorf("bias is a %s tensor of shape %v, want %d floats", b.DType, b.Shape, rows)
	}
	return qw, b.Data, nil
}

// fromStateDictHalf builds the model of a float16 dynamic quantized state
// dict (quantize_dynamic(…, dtype=torch.float16)): scheme fp16-emb32. The
// packed weights are rounded to float16 as PyTorch rounds them again when
// it loads the file (saturating at ±65504; the values a file holds are
// float16 already, so this changes nothing), the biases kept float32.
func fromStateDictHalf(sd *pth.StateDict, enc *pth.Tensor, nlayers int) (*model.Model, string, error) {
	ntoken, ninp := enc.Shape[0], enc.Shape[1]
	kind := model.LSTM
	nhid := 0
	layers := make([]HalfLayer, nlayers)
	for k := range nlayers {
		key := fmt.Sprintf("rnn._all_weight_values.%d.param", k)
		v := sd.Values[key]
		if v == nil || v.Packed == nil || v.Packed.Class != pth.CellParams {
			return nil, "", errkind.Errorf(checkpoint.ErrKey, "missing key %q (packed params of recurrent layer %d)", key, k)
		}
		c := v.Packed
		switch {
		case c.Kind != "quantized_dynamic_fp16":
			return nil, "", fmt.Errorf("key %q: cell params of kind %q in a float16 model, want \"quantized_dynamic_fp16\"", key, c.Kind)
		case len(c.Packed) != 2:
			return nil, "", fmt.Errorf("key %q: %d packed weights, want W_ih and W_hh", key, len(c.Packed))
		}
		wih, bih, err := halfParams(c.Packed[0])
		if err != nil {
			return nil, "", fmt.Errorf("key %q: W_ih: %w", key, err)
		}
		whh, bhh, err := halfParams(c.Packed[1])
		if err != nil {
			return nil, "", fmt.Errorf("key %q: W_hh: %w", key, err)
		}
		if k == 0 {
			nhid = whh.Cols()
			switch {
			case nhid > 0 && whh.Rows() == 3*nhid:
				kind = model.GRU
			case nhid > 0 && whh.Rows() != 4*nhid:
				return nil, "", errkind.Errorf(checkpoint.ErrShape, "key %q: W_hh %d×%d is neither an LSTM's (4·%d rows) nor a GRU's (3·%d rows)",
					key, whh.Rows(), whh.Cols(), nhid, nhid)
			}
		}
		in := ninp
		if k > 0 {
			in = nhid
		}
		gh := kind.Gates() * nhid
		if wih.Rows() != gh || wih.Cols() != in || whh.Rows() != gh || whh.Cols() != nhid || bih == nil || bhh == nil {
			return nil, "", errkind.Errorf(checkpoint.ErrShape, "key %q: %s W_ih %d×%d, W_hh %d×%d, biases %t %t; want %d×%d, %d×%d and both biases",
				key, kind, wih.Rows(), wih.Cols(), whh.Rows(), whh.Cols(), bih != nil, bhh != nil, gh, in, gh, nhid)
		}
		layers[k] = HalfLayer{Wih: wih, Whh: whh, Bih: bih, Bhh: bhh}
	}
	if nhid < 1 {
		return nil, "", fmt.Errorf("key %q: empty recurrent module", "rnn._all_weight_values.0.param")
	}
	dv := sd.Values["decoder._packed_params._packed_params"]
	if dv == nil || len(dv.Tuple) != 2 {
		return nil, "", errkind.Errorf(checkpoint.ErrKey, "missing key %q, (weight, bias)", "decoder._packed_params._packed_params")
	}
	dw, db, err := halfParams(&pth.Packed{Class: pth.LinearPackedParams, Tensors: dv.Tuple})
	if err != nil {
		return nil, "", fmt.Errorf("key %q: %w", "decoder._packed_params._packed_params", err)
	}
	if dw.Rows() != ntoken || dw.Cols() != nhid {
		return nil, "", errkind.Errorf(checkpoint.ErrShape, "key %q: weight %d×%d, want %d×%d (ntoken×nhid)",
			"decoder._packed_params._packed_params", dw.Rows(), dw.Cols(), ntoken, nhid)
	}
	s := Scheme{Weights: "fp16", Embedding32: true}
	return &model.Model{
		Encoder: model.NewEmbedding(enc.Data, ntoken, ninp),
		RNN:     NewHalfRNN(kind, layers, ninp, nhid),
		Decoder: NewHalfLinear(dw, db),
		Dropout: checkpoint.DefaultDropout,
	}, s.String(), nil
}

// halfParams turns float16 LinearPackedParamsBase's (weight, bias) into an
// FP16 matrix and the float32 bias (nil for None).
func halfParams(p *pth.Packed) (*f16.Matrix, []float32, error) {
	if len(p.Tensors) != 2 || p.Tensors[0] == nil {
		return nil, nil, errors.New("packed params without a weight")
	}
	w := p.Tensors[0]
	if w.Data == nil || len(w.Shape) != 2 {
		return nil, nil, fmt.Errorf("weight is a %s tensor of shape %v, want a float matrix (float16 dynamic quantization)", w.DType, w.Shape)
	}
	rows, cols := w.Shape[0], w.Shape[1]
	if rows < 0 || cols < 0 || len(w.Data) != rows*cols {
		return nil, nil, fmt.Errorf("weight: %d values for %d×%d", len(w.Data), rows, cols)
	}
	m := f16.Round(w.Data, rows, cols, f16.FP16)
	b := p.Tensors[1]
	if b == nil {
		return m, nil, nil
	}
	if b.Data == nil || len(b.Shape) != 1 || b.Shape[0] != rows {
		return nil, nil, fmt.Errorf("bias is a %s tensor of shape %v, want %d floats", b.DType, b.Shape, rows)
	}
	return m, b.Data, nil
}
