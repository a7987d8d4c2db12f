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

// Forward implements Projection.
func (l *Linear) Forward(w *Work, out, x []float32, m int) { l.W.Mul(w.Pool(), out, x, m, l.Bias) }

// ForwardBlocks implements Projection: each block of rows is a Forward of its own.
func (l *Linear) ForwardBlocks(w *Work, x []float32, m, rows int, emit func(out []float32, r0, r1 int) error) error {
	mk := w.Mark()
	defer w.Release(mk)
	rows = max(rows, 1)
	out := w.Float32s(min(rows, m) * l.Out())
	for r0 := 0; r0 < m; r0 += rows {
		r1 := min(r0+rows, m)
		o := out[:(r1-r0)*l.Out()]
		l.Forward(w, o, x[r0*l.In():r1*l.In()], r1-r0)
		if err := emit(o, r0, r1); err != nil {
			return err
		}
	}
	return nil
}

func (l *Linear) In() int  { return l.W.Cols() }
func (l *Linear) Out() int { return l.W.Rows() }
func (l *Linear) String() string {
	return fmt.Sprintf("Linear(in_features=%d, out_features=%d, bias=%s)", l.In(), l.Out(), pyBool(l.Bias != nil))
}

// LSTMLayer holds one layer's parameters in PyTorch's layout: W_ih (4h×in),
// W_hh (4h×h), b_ih and b_hh (4h), gate blocks in the order i, f, g, o.
type LSTMLayer struct {
	Wih, Whh *f32.Matrix
	Bih, Bhh []float32
}

// LSTM is nn.LSTM (unidirectional, with biases) in float32; RunLSTM gives
// its equations. Its gates add in this order:
//
//	G = (W_ih·x + (b_ih + b_hh)) + W_hh·h
type LSTM struct {
	Layer   []LSTMLayer
	in, hid int

	gates []Gates
}

// NewLSTM builds an LSTM from its layers; in is the first layer's input size.
func NewLSTM(layers []LSTMLayer, in, hidden int) *LSTM {
	l := &LSTM{Layer: layers, in: in, hid: hidden}
	for k := range layers {
		ly := &layers[k]
		b := make([]float32, 4*hidden)
		for j := range b {
			b[j] = ly.Bih[j] + ly.Bhh[j]
		}
		l.gates = append(l.gates, &lstmGates{ly: ly, bias: b})
	}
	return l
}

func (l *LSTM) Input() int  { return l.in }
func (l *LSTM) Hidden() int { return l.hid }
func (l *LSTM) Layers() int { return len(l.Layer) }

// Repr prints the module as PyTorch does, with dropout p between layers:
// LSTM(512, 256, num_layers=5, dropout=0.5).
func (l *LSTM) Repr(p float64) string { return LSTMRepr("LSTM", l.in, l.hid, len(l.Layer), p) }

// Gates returns each layer's gate computation.
func (l *LSTM) Gates() []Gates { return l.gates }

// Forward implements Recurrent.
func (l *LSTM) Forward(w *Work, out, x []float32, t, b int, s *State) {
	RunLSTM(w, l.gates, l.hid, out, x, t, b, s)
}

// lstmGates computes a float32 layer's gate pre-activations.
type lstmGates struct {
	ly   *LSTMLayer
	bias []float32 // b_ih + b_hh
}

func (g *lstmGates) Input(w *Work, pre, x []float32, n int) {
	g.ly.Wih.Mul(w.Pool(), pre, x, n, g.bias)
}

func (g *lstmGates) Step(w *Work, gates, h, pre []float32, b int) {
	copy(gates, pre)
	g.ly.Whh.MulAdd(w.Pool(), gates, h, b)
}

func (g *lstmGates) Cell(gates, c, h []float32, b, hid int) { f32.LSTMCell(gates, c, h, b, hid, hid) }

// Gates computes one LSTM layer's gate pre-activations
// G = W_ih·x + b_ih + W_hh·h + b_hh, in the order of additions of the
// implementation it stands for (float32 and each quantized kind differ).
type Gates interface {
	// Input writes the input part of G for n rows of x (a whole chunk of
	// steps at once, as PyTorch does) to pre, n×4h.
	Input(w *Work, pre, x []float32, n int)
	// Step writes G for b rows of h to gates, b×4h, given pre, this step's
	// b rows of Input's result.
	Step(w *Work, gates, h, pre []float32, b int)
	// Cell applies the pointwise step to G (b×4h), updating c and h (b×h)
	// in place, with the transcendental functions of the implementation.
	Cell(gates, c, h []float32, b, hid int)
}

// RunLSTM is the LSTM forward loop shared by every implementation. For
// each layer (gates[k], hidden size hid) and step t, with x_t the layer's
// input and (h, c) its state in s:
//
//	[ĩ f̃ g̃ õ] = W_ih·x_t + b_ih + W_hh·h + b_hh   (Gates)
//	i = σ(ĩ), f = σ(f̃), g = tanh(g̃), o = σ(õ)
//	c ← f⊙c + i⊙g
//	h ← o⊙tanh(c)
//
// and h is the next layer's input; the last layer's h go to out, t×b×hid.
// x is t×b×in, time outer.
func RunLSTM(w *Work, gates []Gates, hid int, out, x []float32, t, b int, s *State) {
	mk := w.Mark()
	defer w.Release(mk)
	h4 := 4 * hid
	n := t * b
	pre := w.Float32s(n * h4)
	g := w.Float32s(b * h4)
	var buf [2][]float32
	if len(gates) > 1 {
		buf[0] = w.Float32s(n * hid)
	}
	if len(gates) > 2 {
		buf[1] = w.Float32s(n * hid)
	}
	in := x
	for k, gk := range gates {
		dst := out
		if k < len(gates)-1 {
			dst = buf[k%2]
		}
		gk.Input(w, pre, in, n)
		h := s.H[k*b*hid : (k+1)*b*hid]
		c := s.C[k*b*hid : (k+1)*b*hid]
		for step := range t {
			gk.Step(w, g, h, pre[step*b*h4:(step+1)*b*h4], b)
			gk.Cell(g, c, h, b, hid)
			copy(dst[step*b*hid:(step+1)*b*hid], h)
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
