package model

import (
	"strconv"

	"github.com/lstmq/lstmq/internal/f32"
)

// Params are the float32 parameters of an RNNModel, row-major in PyTorch's
// layouts (the state_dict keys in brackets).
type Params struct {
	Kind               Kind // LSTM (the zero value), GRU, RNN_TANH or RNN_RELU
	NToken, NInp, NHid int
	Encoder            []float32 // [encoder.weight] ntoken×ninp
	Layers             []LayerParams
	DecoderW           []float32 // [decoder.weight] ntoken×nhid; may alias Encoder (tied)
	DecoderB           []float32 // [decoder.bias] ntoken
}

// LayerParams are one recurrent layer's parameters [rnn.*_l{k}], with
// G = Kind.Gates() gate blocks.
type LayerParams struct {
	Wih, Whh, Bih, Bhh []float32 // G·nhid×in, G·nhid×nhid, G·nhid, G·nhid
}

// Tensor is one parameter under its state_dict key: its shape and where
// its data lives in Params.
type Tensor struct {
	Key   string
	Shape []int
	Data  *[]float32
}

// Tensors is the key table of the word_language_model state_dict, in
// PyTorch's order: encoder.weight, then rnn.{weight_ih, weight_hh, bias_ih,
// bias_hh}_l{k} for each layer, then decoder.weight and decoder.bias, with
// the shapes that p's sizes and len(p.Layers) give. Readers fill the Data
// pointers, writers read them.
func (p *Params) Tensors() []Tensor {
	ts := []Tensor{{"encoder.weight", []int{p.NToken, p.NInp}, &p.Encoder}}
	gh := p.Kind.Gates() * p.NHid
	for k := range p.Layers {
		in := p.NInp
		if k > 0 {
			in = p.NHid
		}
		l := &p.Layers[k]
		ts = append(ts,
			Tensor{LayerKey("weight_ih", k), []int{gh, in}, &l.Wih},
			Tensor{LayerKey("weight_hh", k), []int{gh, p.NHid}, &l.Whh},
			Tensor{LayerKey("bias_ih", k), []int{gh}, &l.Bih},
			Tensor{LayerKey("bias_hh", k), []int{gh}, &l.Bhh})
	}
	return append(ts,
		Tensor{"decoder.weight", []int{p.NToken, p.NHid}, &p.DecoderW},
		Tensor{"decoder.bias", []int{p.NToken}, &p.DecoderB})
}

// LayerKey is the state_dict key of parameter name (weight_ih, weight_hh,
// bias_ih, bias_hh) of LSTM layer k: "rnn.weight_ih_l0".
func LayerKey(name string, k int) string { return "rnn." + name + "_l" + strconv.Itoa(k) }

// New builds the float32 model. The slices are used, not copied.
func New(p Params, dropout float64) *Model {
	gh := p.Kind.Gates() * p.NHid
	layers := make([]Layer, len(p.Layers))
	for k, lp := range p.Layers {
		in := p.NInp
		if k > 0 {
			in = p.NHid
		}
		layers[k] = Layer{
			Wih: f32.NewMatrix(lp.Wih, gh, in),
			Whh: f32.NewMatrix(lp.Whh, gh, p.NHid),
			Bih: lp.Bih, Bhh: lp.Bhh,
		}
	}
	return &Model{
		Encoder: NewEmbedding(p.Encoder, p.NToken, p.NInp),
		RNN:     NewRNN(p.Kind, layers, p.NInp, p.NHid),
		Decoder: NewLinear(p.DecoderW, p.NToken, p.NHid, p.DecoderB),
		Dropout: dropout,
	}
}
