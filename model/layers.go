package model

import (
	"fmt"

	"github.com/lstmq/lstmq/internal/f32"
)

// Embedding is nn.Embedding: a table of ntoken rows of dim floats.
type Embedding struct {
	Weight      []float32 // ntoken×dim, row-major
	tokens, dim int
}

// NewEmbedding wraps a row-major ntoken×dim table.
func NewEmbedding(w []float32, ntoken, dim int) *Embedding {
	if len(w) != ntoken*dim {
		panic("model: NewEmbedding: len(w) != ntoken*dim")
	}
	return &Embedding{Weight: w, tokens: ntoken, dim: dim}
}

// Lookup copies row ids[i] of the table to dst[i*dim:]. Ids must be in
// [0, ntoken).
func (e *Embedding) Lookup(dst []float32, ids []int32) {
	for i, id := range ids {
		copy(dst[i*e.dim:(i+1)*e.dim], e.Weight[int(id)*e.dim:(int(id)+1)*e.dim])
	}
}

func (e *Embedding) Tokens() int    { return e.tokens }
func (e *Embedding) Dim() int       { return e.dim }
func (e *Embedding) String() string { return fmt.Sprintf("Embedding(%d, %d)", e.tokens, e.dim) }

// Linear is nn.Linear: out = x·Wᵀ + b, W of shape (out_features, in_features).
type Linear struct {
	W    *f32.Matrix
	Bias []float32 // may be nil
}

// NewLinear wraps W (row-major out×in) and bias (out, or nil).
func NewLinear(w []float32, out, in int, bias []float32) *Linear {
	if bias != nil && len(bias) != out {
		panic("model: NewLinear: len(bias) != out")
	}
	return &Linear{W: f32.NewMatrix(w, out, in), Bias: bias}
}

func (l *Linear) Forward(out, x []float32, m int) { l.W.Mul(out, x, m, l.Bias) }
func (l *Linear) In() int                         { return l.W.Cols() }
func (l *Linear) Out() int                        { return l.W.Rows() }
func (l *Linear) String() string {
	return fmt.Sprintf("Linear(in_features=%d, out_features=%d, bias=%s)", l.In(), l.Out(), pyBool(l.Bias != nil))
}

// LSTMLayer holds one layer's parameters in PyTorch's layout: W_ih (4h×in),
// W_hh (4h×h), b_ih and b_hh (4h), gate blocks in the order i, f, g, o.
type LSTMLayer struct {
	Wih, Whh *f32.Matrix
	Bih, Bhh []float32
}

// LSTM is nn.LSTM (unidirectional, with biases). For each layer and step t,
// with x_t the layer's input and (h, c) its state:
//
//	[ĩ f̃ g̃ õ] = W_ih·x_t + b_ih + W_hh·h + b_hh
//	i = σ(ĩ), f = σ(f̃), g = tanh(g̃), o = σ(õ)
//	c ← f⊙c + i⊙g
//	h ← o⊙tanh(c)
//
// and h is the next layer's input. The input products of a whole chunk are
// done as one matrix product before the steps, as PyTorch does.
type LSTM struct {
	Layer   []LSTMLayer
	in, hid int
	Dropout float64 // between layers, training only; printed by String

	bias  [][]float32 // per layer: b_ih + b_hh
	pre   []float32   // scratch: t×b×4h input projections
	gates []float32   // scratch: b×4h
	buf   [2][]float32
}

// NewLSTM builds an LSTM from its layers; in is the first layer's input size.
func NewLSTM(layers []LSTMLayer, in, hidden int, dropout float64) *LSTM {
	l := &LSTM{Layer: layers, in: in, hid: hidden, Dropout: dropout}
	for _, ly := range layers {
		b := make([]float32, 4*hidden)
		for j := range b {
			b[j] = ly.Bih[j] + ly.Bhh[j]
		}
		l.bias = append(l.bias, b)
	}
	return l
}

func (l *LSTM) Input() int  { return l.in }
func (l *LSTM) Hidden() int { return l.hid }
func (l *LSTM) Layers() int { return len(l.Layer) }

// String prints the module as PyTorch does: LSTM(512, 256, num_layers=5, dropout=0.5).
func (l *LSTM) String() string { return LSTMRepr("LSTM", l.in, l.hid, len(l.Layer), l.Dropout) }

// Forward implements Recurrent.
func (l *LSTM) Forward(out, x []float32, t, b int, s *State) {
	h4 := 4 * l.hid
	n := t * b
	l.pre = f32.Grow(l.pre, n*h4)
	l.gates = f32.Grow(l.gates, b*h4)
	for i := range l.buf {
		l.buf[i] = f32.Grow(l.buf[i], n*l.hid)
	}
	in := x
	for k := range l.Layer {
		ly := &l.Layer[k]
		dst := out
		if k < len(l.Layer)-1 {
			dst = l.buf[k%2]
		}
		ly.Wih.Mul(l.pre, in, n, l.bias[k])
		h := s.H[k*b*l.hid : (k+1)*b*l.hid]
		c := s.C[k*b*l.hid : (k+1)*b*l.hid]
		for step := range t {
			g := l.gates
			copy(g, l.pre[step*b*h4:(step+1)*b*h4])
			ly.Whh.MulAdd(g, h, b)
			f32.LSTMCell(g, c, h, b, l.hid, l.hid)
			copy(dst[step*b*l.hid:(step+1)*b*l.hid], h)
		}
		in = dst
	}
}

// LSTMRepr formats an LSTM module as PyTorch prints it:
// name(in, hidden[, num_layers=n][, dropout=p]).
func LSTMRepr(name string, in, hid, layers int, dropout float64) string {
	s := fmt.Sprintf("%s(%d, %d", name, in, hid)
	if layers != 1 {
		s += fmt.Sprintf(", num_layers=%d", layers)
	}
	if dropout != 0 {
		s += ", dropout=" + pyFloat(dropout)
	}
	return s + ")"
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}
