package model

import (
	"fmt"
	"runtime"
	"sync/atomic"

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
	return ForwardRowBlocks(l, w, x, m, rows, emit)
}

// ForwardRowBlocks is ForwardBlocks for a projection whose rows do not
// interact (no per-call quantization): each block of rows is a Forward of
// its own, into one scratch buffer.
func ForwardRowBlocks(p Projection, w *Work, x []float32, m, rows int, emit func(out []float32, r0, r1 int) error) error {
	mk := w.Mark()
	defer w.Release(mk)
	rows = max(rows, 1)
	out := w.Float32s(min(rows, m) * p.Out())
	for r0 := 0; r0 < m; r0 += rows {
		r1 := min(r0+rows, m)
		o := out[:(r1-r0)*p.Out()]
		p.Forward(w, o, x[r0*p.In():r1*p.In()], r1-r0)
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

// Layer holds one recurrent layer's parameters in PyTorch's layout: W_ih
// (G·h×in), W_hh (G·h×h), b_ih and b_hh (G·h), with G = Kind.Gates() gate
// blocks in PyTorch's order (LSTM i, f, g, o; GRU r, z, n).
type Layer struct {
	Wih, Whh *f32.Matrix
	Bih, Bhh []float32
}

// RNN is nn.LSTM, nn.GRU or nn.RNN (unidirectional, with biases) in
// float32; Run gives the loop and each kind's Gates its equations.
type RNN struct {
	Layer   []Layer
	kind    Kind
	in, hid int

	gates []Gates
}

// NewRNN builds a recurrent module of kind k from its layers; in is the
// first layer's input size.
func NewRNN(k Kind, layers []Layer, in, hidden int) *RNN {
	l := &RNN{kind: k, Layer: layers, in: in, hid: hidden}
	for i := range layers {
		ly := &layers[i]
		var g Gates
		switch k {
		case LSTM:
			b := make([]float32, 4*hidden)
			for j := range b {
				b[j] = ly.Bih[j] + ly.Bhh[j]
			}
			g = &lstmGates{ly: ly, bias: b}
		case GRU:
			g = &gruGates{ly: ly}
		default:
			g = &rnnGates{ly: ly, relu: k == RNNReLU}
		}
		l.gates = append(l.gates, g)
	}
	return l
}

func (l *RNN) Kind() Kind  { return l.kind }
func (l *RNN) Input() int  { return l.in }
func (l *RNN) Hidden() int { return l.hid }
func (l *RNN) Layers() int { return len(l.Layer) }

// Repr prints the module as PyTorch does, with dropout p between layers:
// LSTM(512, 256, num_layers=5, dropout=0.5).
func (l *RNN) Repr(p float64) string {
	return Repr(l.kind.Module(), l.kind, l.in, l.hid, len(l.Layer), p)
}

// Gates returns each layer's gate computation.
func (l *RNN) Gates() []Gates { return l.gates }

// Forward implements Recurrent.
func (l *RNN) Forward(w *Work, out, x []float32, t, b int, s *State) {
	Run(w, l.kind, l.gates, l.hid, out, x, t, b, s)
}

// lstmGates computes a float32 LSTM layer's gate pre-activations:
//
//	G = (W_ih·x + (b_ih + b_hh)) + W_hh·h
type lstmGates struct {
	ly   *Layer
	bias []float32 // b_ih + b_hh
}

func (g *lstmGates) Input(w *Work, pre, x []float32, n int) {
	g.ly.Wih.Mul(w.Pool(), pre, x, n, g.bias)
}

func (g *lstmGates) Step(w *Work, gates, h, pre []float32, b int) {
	copy(gates, pre)
	g.ly.Whh.MulAdd(w.Pool(), gates, h, b)
}

func (g *lstmGates) Cell(pre, gates, c, h []float32, b, hid int) {
	f32.LSTMCell(gates, c, h, b, hid, hid)
}

// gruGates computes a float32 GRU layer: P = W_ih·x + b_ih over the chunk,
// H = W_hh·h + b_hh each step, kept apart for the cell (f32.GRUCell), as
// r multiplies H's n block.
type gruGates struct{ ly *Layer }

func (g *gruGates) Input(w *Work, pre, x []float32, n int) {
	g.ly.Wih.Mul(w.Pool(), pre, x, n, g.ly.Bih)
}

func (g *gruGates) Step(w *Work, gates, h, pre []float32, b int) {
	g.ly.Whh.Mul(w.Pool(), gates, h, b, g.ly.Bhh)
}

func (g *gruGates) Cell(pre, gates, c, h []float32, b, hid int) { f32.GRUCell(pre, gates, h, b, hid) }

// rnnGates computes a float32 RNN layer, in PyTorch's order of additions:
//
//	G = (W_hh·h + b_hh) + (W_ih·x + b_ih)
//	h' = tanh(G) (PyTorch's own tanhf, f32.TanhTorch) or relu(G)
type rnnGates struct {
	ly   *Layer
	relu bool
}

func (g *rnnGates) Input(w *Work, pre, x []float32, n int) {
	g.ly.Wih.Mul(w.Pool(), pre, x, n, g.ly.Bih)
}

func (g *rnnGates) Step(w *Work, gates, h, pre []float32, b int) {
	g.ly.Whh.Mul(w.Pool(), gates, h, b, g.ly.Bhh)
	for i, v := range pre[:len(gates)] {
		gates[i] += v
	}
}

func (g *rnnGates) Cell(pre, gates, c, h []float32, b, hid int) { Activate(g.relu, gates, h) }

// Activate writes an RNN's h = tanh(G) (relu false; PyTorch's tanhf,
// f32.TanhTorch) or relu(G).
func Activate(relu bool, g, h []float32) {
	if relu {
		f32.ReLU(h, g[:len(h)])
	} else {
		f32.TanhTorch(h, g[:len(h)])
	}
}

// Gates computes one recurrent layer's gate pre-activations from
// W_ih·x + b_ih and W_hh·h + b_hh, in the order of additions of the
// implementation it stands for (float32 and each quantized kind differ),
// and applies its cell.
type Gates interface {
	// Input writes the input part for n rows of x (a whole chunk of steps
	// at once, as PyTorch does) to pre, n×G·h.
	Input(w *Work, pre, x []float32, n int)
	// Step writes this step's recurrent part for b rows of h to gates,
	// b×G·h, given pre, this step's b rows of Input's result: for LSTM
	// and RNN the whole pre-activation, for GRU W_hh·h + b_hh alone.
	Step(w *Work, gates, h, pre []float32, b int)
	// Cell applies the pointwise step, updating h (and for LSTM c), b×h,
	// in place, with the transcendental functions of the implementation.
	// It may overwrite gates.
	Cell(pre, gates, c, h []float32, b, hid int)
}

// Run is the recurrent loop shared by every kind and implementation. For
// each layer (gates[k], hidden size hid) and step t, with x_t the layer's
// input and h (and c) its state in s:
//
//	LSTM:  [ĩ f̃ g̃ õ] = W_ih·x_t + b_ih + W_hh·h + b_hh
//	       i = σ(ĩ), f = σ(f̃), g = tanh(g̃), o = σ(õ)
//	       c ← f⊙c + i⊙g,  h ← o⊙tanh(c)
//	GRU:   r = σ(W_ir·x_t + b_ir + W_hr·h + b_hr)
//	       z = σ(W_iz·x_t + b_iz + W_hz·h + b_hz)
//	       n = tanh(W_in·x_t + b_in + r⊙(W_hn·h + b_hn))
//	       h ← (1 − z)⊙n + z⊙h
//	RNN:   h ← tanh|relu(W_ih·x_t + b_ih + W_hh·h + b_hh)
//
// and h is the next layer's input; the last layer's h go to out, t×b×hid.
// x is t×b×in, time outer.
func Run(w *Work, kind Kind, gates []Gates, hid int, out, x []float32, t, b int, s *State) {
	if t == 1 && len(gates) > 1 && w.Pool().Threads() > 1 && splitSteps(gates) {
		runAhead(w, kind, gates, hid, out, x, b, s)
		return
	}
	mk := w.Mark()
	defer w.Release(mk)
	gh := kind.Gates() * hid
	n := t * b
	pre := w.Float32s(n * gh)
	g := w.Float32s(b * gh)
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
		var c []float32
		if s.C != nil {
			c = s.C[k*b*hid : (k+1)*b*hid]
		}
		for step := range t {
			p := pre[step*b*gh : (step+1)*b*gh]
			gk.Step(w, g, h, p, b)
			gk.Cell(p, g, c, h, b, hid)
			copy(dst[step*b*hid:(step+1)*b*hid], h)
		}
		in = dst
	}
}

// Repr formats a recurrent module as PyTorch prints it:
// name(in, hidden[, num_layers=n][, dropout=p]), and nonlinearity='relu'
// for RNN_RELU (a state_dict cannot tell it from tanh, so it is shown).
func Repr(name string, k Kind, in, hid, layers int, dropout float64) string {
	s := fmt.Sprintf("%s(%d, %d", name, in, hid)
	if layers != 1 {
		s += fmt.Sprintf(", num_layers=%d", layers)
	}
	if dropout != 0 {
		s += ", dropout=" + pyFloat(dropout)
	}
	if k == RNNReLU {
		s += ", nonlinearity='relu'"
	}
	return s + ")"
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// A SplitStep is a Gates whose Step is a recurrent product that does not
// read pre, then the addition of pre: Step(w, g, h, pre, b) is
// Recurrent(w, g, h, b) followed by AddInput(g, pre, b). The quantized
// layers are; the float32 LSTM, whose product accumulates onto pre, is not.
type SplitStep interface {
	Gates
	Recurrent(w *Work, gates, h []float32, b int)
	AddInput(gates, pre []float32, b int)
}

func splitSteps(gates []Gates) bool {
	for _, g := range gates {
		if _, ok := g.(SplitStep); !ok {
			return false
		}
	}
	return true
}

// runAhead is Run for one step of SplitStep layers on more than one
// thread (generation, next-word queries). Every layer's recurrent product
// W_hh·h reads only the state from before the step, so a worker computes
// them all, layer after layer, while the caller computes the input
// products W_ih·x, each layer's waiting for the layer below; the caller
// takes layer k's recurrent part once the worker has it. Each product is
// the one Run computes, so the results are Run's to the bit.
func runAhead(w *Work, kind Kind, gates []Gates, hid int, out, x []float32, b int, s *State) {
	mk := w.Mark()
	defer w.Release(mk)
	if w.side == nil {
		w.side = NewWork(nil)
	}
	gh := kind.Gates() * hid
	a := &w.ahead
	*a = ahead{w: w, kind: kind, gates: gates, hid: hid, b: b, s: s, out: out, x: x,
		rec: w.Float32s(len(gates) * b * gh), pre: w.Float32s(b * gh), buf: w.Float32s(2 * b * hid)}
	a.done.Store(0)
	w.Pool().Run(2, 1, a)
	*a = ahead{}
}

// ahead is runAhead's task: range 1 the worker's recurrent products,
// range 0 the caller's layer loop.
type ahead struct {
	w             *Work
	kind          Kind
	gates         []Gates
	hid, b        int
	s             *State
	out, x        []float32
	rec, pre, buf []float32    // every layer's recurrent part; one layer's input part; two layers' outputs
	done          atomic.Int32 // recurrent parts ready
}

func (a *ahead) Run(lo, hi int) {
	if hi > 1 { // the worker's part, first when one goroutine runs both
		a.recurrent()
	}
	if lo == 0 {
		a.layers()
	}
}

func (a *ahead) recurrent() {
	bh, gh := a.b*a.hid, a.b*a.kind.Gates()*a.hid
	for k, g := range a.gates {
		g.(SplitStep).Recurrent(a.w.side, a.rec[k*gh:(k+1)*gh], a.s.H[k*bh:(k+1)*bh], a.b)
		a.done.Store(int32(k + 1))
	}
}

func (a *ahead) layers() {
	bh, gh := a.b*a.hid, a.b*a.kind.Gates()*a.hid
	in := a.x
	for k, g := range a.gates {
		g.Input(a.w, a.pre, in, a.b)
		for a.done.Load() <= int32(k) {
			runtime.Gosched()
		}
		rec := a.rec[k*gh : (k+1)*gh]
		g.(SplitStep).AddInput(rec, a.pre, a.b)
		h := a.s.H[k*bh : (k+1)*bh]
		var c []float32
		if a.s.C != nil {
			c = a.s.C[k*bh : (k+1)*bh]
		}
		g.Cell(a.pre, rec, c, h, a.b, a.hid)
		dst := a.out
		if k < len(a.gates)-1 {
			dst = a.buf[(k%2)*bh : (k%2+1)*bh]
		}
		copy(dst[:bh], h)
		in = dst
	}
}
