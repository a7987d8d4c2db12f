package model

import "github.com/lstmq/lstmq/internal/f32"

// Params are the float32 parameters of an LSTMModel, row-major in PyTorch's
// layouts (the state_dict keys in brackets).
type Params struct {
	NToken, NInp, NHid int
	Encoder            []float32 // [encoder.weight] ntoken×ninp
	Layers             []LayerParams
	DecoderW           []float32 // [decoder.weight] ntoken×nhid; may alias Encoder (tied)
	DecoderB           []float32 // [decoder.bias] ntoken
}

// LayerParams are one LSTM layer's parameters [rnn.*_l{k}].
type LayerParams struct {
	Wih, Whh, Bih, Bhh []float32 // 4nhid×in, 4nhid×nhid, 4nhid, 4nhid
}

// New builds the float32 model. The slices are used, not copied.
func New(p Params, dropout float64) *Model {
	layers := make([]LSTMLayer, len(p.Layers))
	for k, lp := range p.Layers {
		in := p.NInp
		if k > 0 {
			in = p.NHid
		}
		layers[k] = LSTMLayer{
			Wih: f32.NewMatrix(lp.Wih, 4*p.NHid, in),
			Whh: f32.NewMatrix(lp.Whh, 4*p.NHid, p.NHid),
			Bih: lp.Bih, Bhh: lp.Bhh,
		}
	}
	return &Model{
		Encoder: NewEmbedding(p.Encoder, p.NToken, p.NInp),
		RNN:     NewLSTM(layers, p.NInp, p.NHid),
		Decoder: NewLinear(p.DecoderW, p.NToken, p.NHid, p.DecoderB),
		Dropout: dropout,
	}
}
