package quant

import (
	"fmt"
	"math"

	"github.com/lstmq/lstmq/internal/f32"
	"github.com/lstmq/lstmq/model"
)

// Linear is PyTorch's DynamicQuantizedLinear: out = dequant(quant(x)·W_qᵀ) +
// bias, the activation scale chosen per call over the m rows of x.
type Linear struct {
	W    *Weight
	Bias []float32 // fp32, may be nil

	act     act
	weights string // Scheme.Weights it was quantized with, if known
}

// NewLinear wraps w and bias (len w.Rows, or nil); qmax is the activations'
// upper code (127 as PyTorch with reduce_range, 255 for full 8 bits).
func NewLinear(w *Weight, bias []float32, qmax int32) *Linear {
	if bias != nil && len(bias) != w.Rows {
		panic("quant: NewLinear: len(bias) != rows")
	}
	return &Linear{W: w, Bias: bias, act: act{qmax: qmax}}
}

// Forward implements model.Projection.
func (l *Linear) Forward(out, x []float32, m int) {
	if m < 0 || len(x) < m*l.W.Cols || len(out) < m*l.W.Rows {
		panic("quant: Linear.Forward: short operand")
	}
	l.act.forward(l.W, out, x, m, l.Bias)
}

func (l *Linear) In() int  { return l.W.Cols }
func (l *Linear) Out() int { return l.W.Rows }

// ActMax is the activations' largest code, 127 or 255.
func (l *Linear) ActMax() int32 { return l.act.qmax }

// String prints the module as PyTorch does.
func (l *Linear) String() string {
	return fmt.Sprintf("DynamicQuantizedLinear(in_features=%d, out_features=%d, dtype=torch.qint8, qscheme=%s)",
		l.In(), l.Out(), l.W.QScheme())
}

// LSTMLayer is one layer of a dynamic quantized LSTM: int8 W_ih (4h×in) and
// W_hh (4h×h), fp32 biases, gate blocks in the order i, f, g, o.
type LSTMLayer struct {
	Wih, Whh *Weight
	Bih, Bhh []float32
}

// LSTM is PyTorch's DynamicQuantizedLSTM (CPU path of RNN.cpp). For each
// layer, over a chunk of t steps of b sequences:
//
//	P = dequant(quant(X)·W_ihᵀ) + b_ih          X: all t·b input rows, one scale
//	for each step:
//	  G = (dequant(quant(h)·W_hhᵀ) + b_hh) + P_t  h: b rows, one scale per step
//	  i, f, g, o = σ(G_i), σ(G_f), tanh(G_g), σ(G_o)
//	  c ← f⊙c + i⊙g;  h ← o⊙tanh(c)              fp32
type LSTM struct {
	Layer   []LSTMLayer
	in, hid int
	Dropout float64

	act   act
	pre   []float32
	gates []float32
	buf   [2][]float32
}

// NewLSTM builds the module; in is the first layer's input size.
func NewLSTM(layers []LSTMLayer, in, hidden int, dropout float64, qmax int32) *LSTM {
	return &LSTM{Layer: layers, in: in, hid: hidden, Dropout: dropout, act: act{qmax: qmax}}
}

func (l *LSTM) Input() int  { return l.in }
func (l *LSTM) Hidden() int { return l.hid }
func (l *LSTM) Layers() int { return len(l.Layer) }

// ActMax is the activations' largest code, 127 or 255.
func (l *LSTM) ActMax() int32 { return l.act.qmax }

// String prints the module as PyTorch does:
// DynamicQuantizedLSTM(512, 256, num_layers=5, dropout=0.5).
func (l *LSTM) String() string {
	return model.LSTMRepr("DynamicQuantizedLSTM", l.in, l.hid, len(l.Layer), l.Dropout)
}

// Forward implements model.Recurrent.
func (l *LSTM) Forward(out, x []float32, t, b int, s *model.State) {
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
		l.act.forward(ly.Wih, l.pre, in, n, ly.Bih)
		h := s.H[k*b*l.hid : (k+1)*b*l.hid]
		c := s.C[k*b*l.hid : (k+1)*b*l.hid]
		for step := range t {
			g := l.gates
			l.act.forward(ly.Whh, g, h, b, ly.Bhh)
			for i, v := range l.pre[step*b*h4 : (step+1)*b*h4] {
				g[i] += v
			}
			f32.LSTMCell(g, c, h, b, l.hid, l.hid)
			copy(dst[step*b*l.hid:(step+1)*b*l.hid], h)
		}
		in = dst
	}
}

// Embedding is PyTorch's QuantizedEmbedding with quint8 rows and float
// qparams: row r reads back as fma(Q[r,c], Scales[r], −(ZeroPoints[r]·Scales[r])).
type Embedding struct {
	Q                  []uint8
	Scales, ZeroPoints []float32
	tokens, dim        int
	bias               []float32
}

// NewEmbedding wraps a quantized table (see QuantizeEmbeddingRows).
func NewEmbedding(q []uint8, tokens, dim int, scales, zeroPoints []float32) (*Embedding, error) {
	if tokens < 0 || dim < 0 || len(q) != tokens*dim || len(scales) != tokens || len(zeroPoints) != tokens {
		return nil, fmt.Errorf("quant: embedding: %d values, %d scales, %d zero points for %d×%d",
			len(q), len(scales), len(zeroPoints), tokens, dim)
	}
	e := &Embedding{Q: q, Scales: scales, ZeroPoints: zeroPoints, tokens: tokens, dim: dim,
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
	return fmt.Sprintf("QuantizedEmbedding(num_embeddings=%d, embedding_dim=%d, dtype=torch.quint8, qscheme=torch.per_channel_affine_float_qparams)",
		e.tokens, e.dim)
}
