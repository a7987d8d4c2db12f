package quant

import (
	"fmt"
	"math"

	"github.com/lstmq/lstmq/internal/cpu"
	"github.com/lstmq/lstmq/internal/f32"
	"github.com/lstmq/lstmq/model"
)

// Linear is PyTorch's DynamicQuantizedLinear: out = dequant(quant(x)·W_qᵀ) +
// bias, the activation scale chosen per call over the m rows of x.
type Linear struct {
	W    *Weight
	Bias []float32 // fp32, may be nil

	act    act
	scheme Scheme // the scheme it was quantized with, if known
}

// NewLinear wraps w and bias (len w.Rows, or nil); qmax is the activations'
// upper code (127 as PyTorch with reduce_range, 255 for full 8 bits).
func NewLinear(w *Weight, bias []float32, qmax int32) *Linear {
	if bias != nil && len(bias) != w.Rows {
		panic("quant: NewLinear: len(bias) != rows")
	}
	w.kern.requireExact(uint8(qmax))
	return &Linear{W: w, Bias: bias, act: act{qmax: qmax}}
}

// Forward implements model.Projection.
func (l *Linear) Forward(w *model.Work, out, x []float32, m int) {
	if m < 0 || len(x) < m*l.W.Cols || len(out) < m*l.W.Rows {
		panic("quant: Linear.Forward: short operand")
	}
	l.act.forward(w, l.W, out, x, m, l.Bias)
}

// ForwardBlocks implements model.Projection: x is quantized once, with one
// scale over all m rows as Forward chooses it, then multiplied rows at a
// time, so every block equals Forward's rows bit for bit.
func (l *Linear) ForwardBlocks(w *model.Work, x []float32, m, rows int, emit func(out []float32, r0, r1 int) error) error {
	if m < 0 || len(x) < m*l.W.Cols {
		panic("quant: Linear.ForwardBlocks: short operand")
	}
	mk := w.Mark()
	defer w.Release(mk)
	rows = max(rows, 1)
	onednn := l.act.onednn(l.W)
	var a []uint8
	var s, inv float32
	var zp int32
	var osc, bq []float32
	if onednn {
		a, inv, zp = quantizeOneDNN(w, x[:m*l.W.Cols])
		osc, bq = l.W.oneDNNScales(w, inv, l.Bias)
	} else {
		a, s, zp = l.act.quantize(w, x[:m*l.W.Cols])
	}
	out := w.Float32s(min(rows, m) * l.W.Rows)
	for r0 := 0; r0 < m; r0 += rows {
		r1 := min(r0+rows, m)
		o := out[:(r1-r0)*l.W.Rows]
		ar := a[r0*l.W.Cols : r1*l.W.Cols]
		if onednn {
			l.W.kern.(q8Kernel).p.MulU8OneDNN(w.Pool(), o, ar, r1-r0, zp, osc, bq)
		} else {
			l.W.mulDequant(w, o, ar, r1-r0, s, zp, l.Bias)
		}
		if err := emit(o, r0, r1); err != nil {
			return err
		}
	}
	return nil
}

func (l *Linear) In() int  { return l.W.Cols }
func (l *Linear) Out() int { return l.W.Rows }

// ActMax is the activations' largest code, 127 or 255.
func (l *Linear) ActMax() int32 { return l.act.qmax }

// String prints the module as PyTorch does.
func (l *Linear) String() string {
	if l.W.low != nil { // no PyTorch counterpart: lstmq's own names
		return fmt.Sprintf("DynamicQuantizedLinear(in_features=%d, out_features=%d, dtype=lstmq.%s)", l.In(), l.Out(), l.W.low.f)
	}
	return fmt.Sprintf("DynamicQuantizedLinear(in_features=%d, out_features=%d, dtype=torch.qint8, qscheme=%s)",
		l.In(), l.Out(), l.W.QScheme())
}

// Layer is one layer of a dynamic quantized recurrent module: int8 W_ih
// (G·h×in) and W_hh (G·h×h), fp32 biases, G = Kind.Gates() gate blocks in
// PyTorch's order.
type Layer struct {
	Wih, Whh *Weight
	Bih, Bhh []float32
}

// RNN is PyTorch's DynamicQuantizedLSTM or DynamicQuantizedGRU (CPU path
// of RNN.cpp), or lstmq's own quantized RNN_TANH / RNN_RELU, run by
// model.Run. Each layer's products, over a chunk of t steps of b sequences:
//
//	P = dequant(quant(X)·W_ihᵀ) + b_ih          X: all t·b input rows, one scale
//	H = dequant(quant(h)·W_hhᵀ) + b_hh          h: b rows, one scale per step
//
// then, in float32, the LSTM's gates G = H + P and cell, the GRU's cell on
// (P, H) (r multiplies H's n block, b_hn inside), or an RNN's
// h = tanh|relu(H + P).
type RNN struct {
	Layer   []Layer
	kind    model.Kind
	in, hid int

	act   act
	gates []model.Gates
}

// NewRNN builds the module; in is the first layer's input size.
func NewRNN(k model.Kind, layers []Layer, in, hidden int, qmax int32) *RNN {
	l := &RNN{Layer: layers, kind: k, in: in, hid: hidden, act: act{qmax: qmax}}
	for i := range layers {
		layers[i].Wih.kern.requireExact(uint8(qmax))
		layers[i].Whh.kern.requireExact(uint8(qmax))
		l.gates = append(l.gates, &gates{ly: &layers[i], act: l.act, kind: k})
	}
	return l
}

func (l *RNN) Kind() model.Kind { return l.kind }
func (l *RNN) Input() int       { return l.in }
func (l *RNN) Hidden() int      { return l.hid }
func (l *RNN) Layers() int      { return len(l.Layer) }

// ActMax is the activations' largest code, 127 or 255.
func (l *RNN) ActMax() int32 { return l.act.qmax }

// Repr prints the module as PyTorch does, with dropout p between layers:
// DynamicQuantizedLSTM(512, 256, num_layers=5, dropout=0.5),
// DynamicQuantizedGRU(…); PyTorch has no quantized RNN, lstmq's prints as
// DynamicQuantizedRNN(…).
func (l *RNN) Repr(p float64) string {
	return model.Repr("DynamicQuantized"+l.kind.Module(), l.kind, l.in, l.hid, len(l.Layer), p)
}

// Gates returns each layer's gate computation.
func (l *RNN) Gates() []model.Gates { return l.gates }

// Forward implements model.Recurrent.
func (l *RNN) Forward(w *model.Work, out, x []float32, t, b int, s *model.State) {
	model.Run(w, l.kind, l.gates, l.hid, out, x, t, b, s)
}

// gates computes a quantized layer's products in PyTorch's order of
// additions, and its cell.
type gates struct {
	ly   *Layer
	act  act
	kind model.Kind
}

func (g *gates) Input(w *model.Work, pre, x []float32, n int) {
	g.act.forward(w, g.ly.Wih, pre, x, n, g.ly.Bih)
}

func (g *gates) Step(w *model.Work, gates, h, pre []float32, b int) {
	g.Recurrent(w, gates, h, b)
	g.AddInput(gates, pre, b)
}

// Recurrent implements model.SplitStep: gates = W_hh·h + b_hh.
func (g *gates) Recurrent(w *model.Work, gates, h []float32, b int) {
	g.act.forward(w, g.ly.Whh, gates, h, b, g.ly.Bhh)
}

// AddInput implements model.SplitStep: gates += pre for LSTM and RNN; the
// GRU's cell takes the two parts apart.
func (g *gates) AddInput(gates, pre []float32, b int) {
	if g.kind == model.GRU {
		return
	}
	for i, v := range pre[:len(gates)] {
		gates[i] += v
	}
}

// Cell is, for the schemes that reproduce PyTorch's onednn engine (pytorch,
// channel), PyTorch's own cell bit for bit (f32.LSTMCellTorch,
// f32.GRUCellTorch: Sleef's expf and tanhf, glibc's expf in the sigmoid's
// tails) with the block width of PyTorch's kernels on this CPU:
// activations are rounded to int8 codes, and the smallest difference in h
// can move one to the next code. lstmq's own schemes (act8, blocks) run the
// faster float32 cells.
func (g *gates) Cell(pre, gates, c, h []float32, b, hid int) {
	exact := g.act.onednn(g.ly.Wih)
	switch {
	case g.kind == model.LSTM && exact:
		f32.LSTMCellTorchBlock(gates, c, h, b, hid, hid, torchBlock)
	case g.kind == model.LSTM:
		f32.LSTMCell(gates, c, h, b, hid, hid)
	case g.kind == model.GRU && exact:
		f32.GRUCellTorch(pre, gates, h, b, hid, torchBlock)
	case g.kind == model.GRU:
		f32.GRUCell(pre, gates, h, b, hid)
	default:
		model.Activate(g.kind == model.RNNReLU, gates, h)
	}
}

// torchBlock is the sigmoid's block width of PyTorch's CPU kernels on this
// machine: its AVX-512 kernels where the CPU has AVX-512, else AVX2's.
var torchBlock = func() int {
	if cpu.Has(cpu.AVX512) {
		return f32.TorchBlockAVX512
	}
	return f32.TorchBlockAVX2
}()

// Embedding is PyTorch's QuantizedEmbedding with quint8 rows and float
// qparams: row r reads back as fma(Q[r,c], Scales[r], −(ZeroPoints[r]·Scales[r])).
type Embedding struct {
	Q                  []uint8
	Scales, ZeroPoints []float32
	// Bits is the codes' width: 8, or 2 to 7 for a low-bit embedding
	// (codes below 2^Bits, saved packed).
	Bits        int
	tokens, dim int
	bias        []float32
}

// NewEmbedding wraps a quantized table (see QuantizeEmbeddingRows).
func NewEmbedding(q []uint8, tokens, dim int, scales, zeroPoints []float32) (*Embedding, error) {
	if tokens < 0 || dim < 0 || len(q) != tokens*dim || len(scales) != tokens || len(zeroPoints) != tokens {
		return nil, fmt.Errorf("quant: embedding: %d values, %d scales, %d zero points for %d×%d",
			len(q), len(scales), len(zeroPoints), tokens, dim)
	}
	e := &Embedding{Q: q, Scales: scales, ZeroPoints: zeroPoints, Bits: 8, tokens: tokens, dim: dim,
		bias: make([]float32, tokens)}
	for r := range tokens {
		e.bias[r] = -(zeroPoints[r] * scales[r])
	}
	return e, nil
}

// Lookup implements model.Embedder.
func (e *Embedding) Lookup(dst []float32, ids []int32) {
	for i, id := range ids {
		r := int(id)
		s, b := float64(e.Scales[r]), float64(e.bias[r])
		row := e.Q[r*e.dim : (r+1)*e.dim]
		d := dst[i*e.dim : (i+1)*e.dim]
		for c, q := range row {
			// q·s is exact in float64; the sum rounds once more, as fma
			// would, except in double-rounding corner cases.
			d[c] = float32(math.FMA(float64(q), s, b))
		}
	}
}

func (e *Embedding) Tokens() int { return e.tokens }
func (e *Embedding) Dim() int    { return e.dim }

// String prints the module as PyTorch does.
func (e *Embedding) String() string {
	dtype := "torch.quint8"
	switch e.Bits {
	case 8:
	case 4:
		dtype = "torch.quint4x2"
	case 2:
		dtype = "torch.quint2x4"
	default:
		dtype = fmt.Sprintf("lstmq.quint%d", e.Bits)
	}
	return fmt.Sprintf("QuantizedEmbedding(num_embeddings=%d, embedding_dim=%d, dtype=%s, qscheme=torch.per_channel_affine_float_qparams)",
		e.tokens, e.dim, dtype)
}
