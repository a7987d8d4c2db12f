package quant

import (
	"cmp"
	"fmt"
	"strconv"

	"github.com/lstmq/lstmq/checkpoint"

	"github.com/lstmq/lstmq/model"
)

// Quantize builds the dynamic quantized model from float32 parameters: the
// recurrent module's and the decoder's weights quantized as s says, their
// biases kept fp32, the embedding fp32 unless s.Embedding8. A 16-bit scheme
// (fp16, bf16) rounds the weights, and the embedding unless -emb8 or
// -emb32, to its format instead (half.go): its model's modules are
// HalfRNN, HalfLinear and HalfEmbedding. Scheme pytorch
// leaves an RNN_TANH's or RNN_RELU's nn.RNN in float32, as quantize_dynamic
// does. The result is a
// model.Model with Encoder, RNN and Decoder of this package's types (the
// encoder stays *model.Embedding when fp32). p is not modified; the fp32
// embedding table is shared with it.
func Quantize(p *model.Params, s Scheme) (*model.Model, error) {
	return QuantizeCalibrated(p, s, nil)
}

// QuantizeCalibrated is Quantize with calibration statistics for the
// schemes that need them (-imatrix, -gptq; see Calibrate); cal may be nil
// for the others.
func QuantizeCalibrated(p *model.Params, s Scheme, cal *Calibration) (*model.Model, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	if err := checkParams(p); err != nil {
		return nil, err
	}
	if f, ok := s.Half(); ok {
		return quantizeHalf(p, s, f)
	}
	qmax := s.actMax()
	gh := p.Kind.Gates() * p.NHid
	layers := make([]Layer, len(p.Layers))
	for k, lp := range p.Layers {
		in := p.NInp
		if k > 0 {
			in = p.NHid
		}
		wih, err := quantizeWeight(lp.Wih, gh, in, s, "ih"+strconv.Itoa(k), cal)
		if err != nil {
			return nil, fmt.Errorf("quant: rnn.weight_ih_l%d: %w", k, err)
		}
		whh, err := quantizeWeight(lp.Whh, gh, p.NHid, s, "hh"+strconv.Itoa(k), cal)
		if err != nil {
			return nil, fmt.Errorf("quant: rnn.weight_hh_l%d: %w", k, err)
		}
		layers[k] = Layer{Wih: wih, Whh: whh, Bih: lp.Bih, Bhh: lp.Bhh}
	}
	dw, err := quantizeWeight(p.DecoderW, p.NToken, p.NHid, s, "dec", cal)
	if err != nil {
		return nil, fmt.Errorf("quant: decoder.weight: %w", err)
	}
	dec := NewLinear(dw, p.DecoderB, qmax)
	dec.scheme = s
	m := &model.Model{
		Encoder: model.NewEmbedding(p.Encoder, p.NToken, p.NInp),
		RNN:     NewRNN(p.Kind, layers, p.NInp, p.NHid, qmax),
		Decoder: dec,
		Dropout: checkpoint.DefaultDropout,
	}
	if s.keepsRNNFloat(p.Kind) {
		m.RNN = model.New(*p, 0).RNN
	}
	if s.Embedding8 || s.EmbeddingBits > 0 {
		e, err := quantizeEmbedding(p.Encoder, p.NToken, p.NInp, cmp.Or(s.EmbeddingBits, 8))
		if err != nil {
			return nil, err
		}
		m.Encoder = e
	}
	return m, nil
}

func quantizeEmbedding(w []float32, tokens, dim, bits int) (*Embedding, error) {
	q, sc, zp := QuantizeEmbeddingRowsBits(w, tokens, bits)
	e, err := NewEmbedding(q, tokens, dim, sc, zp)
	if err != nil {
		return nil, fmt.Errorf("quant: encoder.weight: %w", err)
	}
	e.Bits = bits
	return e, nil
}

// quantizeWeight quantizes the rows×cols matrix target ("dec", "ih{k}",
// "hh{k}") in the format s gives it, with cal's statistics where s asks
// for them.
func quantizeWeight(w []float32, rows, cols int, s Scheme, target string, cal *Calibration) (*Weight, error) {
	if len(w) != rows*cols {
		return nil, fmt.Errorf("%d values, want %d×%d", len(w), rows, cols)
	}
	var (
		q      []int8
		scales []float32
	)
	format := s.weightsFor(target)
	if f, ok := parseLowBit(format); ok {
		l, err := quantizeLowBitCalibrated(w, rows, cols, f, s.Calib, target, cal)
		if err != nil {
			return nil, err
		}
		return l.weight()
	}
	block := Scheme{Weights: format}.Block()
	switch {
	case format == "tensor":
		var sc float32
		q, sc = QuantizeWeightsPerTensor(w)
		scales = []float32{sc}
	case format == "channel":
		q, scales = QuantizeWeightsPerChannel(w, rows)
	default:
		q, scales = QuantizeWeightsPerBlock(w, rows, block)
		// A block as wide as the row is per channel.
		if block >= cols {
			return NewWeight(q, rows, cols, scales, 0)
		}
	}
	return NewWeight(q, rows, cols, scales, block)
}

func checkParams(p *model.Params) error {
	if p == nil || p.NToken <= 0 || p.NInp <= 0 || p.NHid <= 0 || len(p.Layers) == 0 {
		return fmt.Errorf("quant: empty or invalid model parameters")
	}
	h4 := p.Kind.Gates() * p.NHid
	if len(p.Encoder) != p.NToken*p.NInp {
		return fmt.Errorf("quant: encoder.weight has %d values, want %d×%d", len(p.Encoder), p.NToken, p.NInp)
	}
	if len(p.DecoderW) != p.NToken*p.NHid || (p.DecoderB != nil && len(p.DecoderB) != p.NToken) {
		return fmt.Errorf("quant: decoder has %d weights and %d biases, want %d×%d and %d",
			len(p.DecoderW), len(p.DecoderB), p.NToken, p.NHid, p.NToken)
	}
	for k, lp := range p.Layers {
		in := p.NInp
		if k > 0 {
			in = p.NHid
		}
		if len(lp.Wih) != h4*in || len(lp.Whh) != h4*p.NHid || len(lp.Bih) != h4 || len(lp.Bhh) != h4 {
			return fmt.Errorf("quant: rnn layer %d has shapes %d, %d, %d, %d, want %d×%d, %d×%d, %d, %d",
				k, len(lp.Wih), len(lp.Whh), len(lp.Bih), len(lp.Bhh), h4, in, h4, p.NHid, h4, h4)
		}
	}
	return nil
}
