package quant

import (
	"fmt"

	"github.com/lstmq/lstmq/checkpoint"
	"github.com/lstmq/lstmq/internal/f16"
	"github.com/lstmq/lstmq/internal/f32"
	"github.com/lstmq/lstmq/model"
)

// The 16-bit schemes, fp16 and bf16, round every weight matrix (W_ih, W_hh
// of each recurrent layer, the decoder's W, and the embedding unless -emb8
// or -emb32) to IEEE half precision or bfloat16, and compute in float32:
// the kernels (internal/f16) convert the weights in registers and
// accumulate each output with fused multiply-adds in input order. Biases,
// activations, states and the cells stay float32, and the layers add in
// the float32 model's order (model.RNN), so a 16-bit model gives, on the
// SIMD kernels, the float32 model's results on its rounded weights bit for
// bit (package f32's kernels use the same order).
//
// FP16 rounds to nearest even after clamping to ±65504, as PyTorch's
// quantize_dynamic(dtype=torch.float16) prepacks its weights (no weight
// becomes infinite); BF16 rounds to nearest even, as tensor.bfloat16().

// roundHalf rounds a float32 matrix (rows×cols) to the scheme's format.
func roundHalf(w []float32, rows, cols int, f f16.Format) (*f16.Matrix, error) {
	if len(w) != rows*cols {
		return nil, fmt.Errorf("%d values, want %d×%d", len(w), rows, cols)
	}
	return f16.Round(w, rows, cols, f), nil
}

// HalfLinear is nn.Linear with 16-bit float weights: out = x·Wᵀ + bias in
// float32 (f16.Matrix.Mul). It is safe for concurrent use.
type HalfLinear struct {
	W    *f16.Matrix
	Bias []float32 // may be nil
}

// NewHalfLinear wraps w and bias (len w.Rows(), or nil).
func NewHalfLinear(w *f16.Matrix, bias []float32) *HalfLinear {
	if bias != nil && len(bias) != w.Rows() {
		panic("quant: NewHalfLinear: len(bias) != rows")
	}
	return &HalfLinear{W: w, Bias: bias}
}

// Forward implements model.Projection.
func (l *HalfLinear) Forward(w *model.Work, out, x []float32, m int) {
	l.W.Mul(w.Pool(), out, x, m, l.Bias)
}

// ForwardBlocks implements model.Projection: each block of rows is a
// Forward of its own (the rows do not interact).
func (l *HalfLinear) ForwardBlocks(w *model.Work, x []float32, m, rows int, emit func(out []float32, r0, r1 int) error) error {
	return model.ForwardRowBlocks(l, w, x, m, rows, emit)
}

func (l *HalfLinear) In() int  { return l.W.Cols() }
func (l *HalfLinear) Out() int { return l.W.Rows() }

// String prints the module as PyTorch prints a float16 dynamic Linear
// (bfloat16 has no PyTorch counterpart; lstmq prints it alike).
func (l *HalfLinear) String() string {
	return fmt.Sprintf("DynamicQuantizedLinear(in_features=%d, out_features=%d, dtype=%s)", l.In(), l.Out(), torchDType(l.W.Format()))
}

func torchDType(f f16.Format) string {
	if f == f16.BF16 {
		return "torch.bfloat16"
	}
	return "torch.float16"
}

// HalfLayer is one recurrent layer with 16-bit W_ih (G·h×in) and W_hh
// (G·h×h) and float32 biases, G = Kind.Gates() gate blocks in PyTorch's
// order.
type HalfLayer struct {
	Wih, Whh *f16.Matrix
	Bih, Bhh []float32
}

// HalfRNN is an LSTM, GRU or RNN with 16-bit float weights, run by
// model.Run with the float32 model's equations and order of additions:
//
//	LSTM:  G = (W_ih·x + (b_ih + b_hh)) + W_hh·h
//	GRU:   P = W_ih·x + b_ih,  H = W_hh·h + b_hh  (f32.GRUCell)
//	RNN:   G = (W_hh·h + b_hh) + (W_ih·x + b_ih)
//
// It is safe for concurrent use.
type HalfRNN struct {
	Layer   []HalfLayer
	kind    model.Kind
	in, hid int
	gates   []model.Gates
}

// NewHalfRNN builds the module; in is the first layer's input size.
func NewHalfRNN(k model.Kind, layers []HalfLayer, in, hidden int) *HalfRNN {
	l := &HalfRNN{Layer: layers, kind: k, in: in, hid: hidden}
	for i := range layers {
		ly := &layers[i]
		g := &halfGates{ly: ly, kind: k}
		if k == model.LSTM {
			g.bias = make([]float32, len(ly.Bih))
			for j := range g.bias {
				g.bias[j] = ly.Bih[j] + ly.Bhh[j]
			}
		}
		l.gates = append(l.gates, g)
	}
	return l
}

func (l *HalfRNN) Kind() model.Kind { return l.kind }
func (l *HalfRNN) Input() int       { return l.in }
func (l *HalfRNN) Hidden() int      { return l.hid }
func (l *HalfRNN) Layers() int      { return len(l.Layer) }

// Format returns the weights' format.
func (l *HalfRNN) Format() f16.Format { return l.Layer[0].Wih.Format() }

// Repr prints the module as PyTorch prints a float16 dynamic LSTM:
// DynamicQuantizedLSTM(200, 200, num_layers=2, dropout=0.2).
func (l *HalfRNN) Repr(p float64) string {
	return model.Repr("DynamicQuantized"+l.kind.Module(), l.kind, l.in, l.hid, len(l.Layer), p)
}

// Gates returns each layer's gate computation.
func (l *HalfRNN) Gates() []model.Gates { return l.gates }

// Forward implements model.Recurrent.
func (l *HalfRNN) Forward(w *model.Work, out, x []float32, t, b int, s *model.State) {
	model.Run(w, l.kind, l.gates, l.hid, out, x, t, b, s)
}

type halfGates struct {
	ly   *HalfLayer
	kind model.Kind
	bias []float32 // LSTM: b_ih + b_hh
}

func (g *halfGates) Input(w *model.Work, pre, x []float32, n int) {
	if g.kind == model.LSTM {
		g.ly.Wih.Mul(w.Pool(), pre, x, n, g.bias)
		return
	}
	g.ly.Wih.Mul(w.Pool(), pre, x, n, g.ly.Bih)
}

func (g *halfGates) Step(w *model.Work, gates, h, pre []float32, b int) {
	switch g.kind {
	case model.LSTM:
		copy(gates, pre)
		g.ly.Whh.MulAdd(w.Pool(), gates, h, b)
	case model.GRU:
		g.ly.Whh.Mul(w.Pool(), gates, h, b, g.ly.Bhh)
	default:
		g.ly.Whh.Mul(w.Pool(), gates, h, b, g.ly.Bhh)
		for i, v := range pre[:len(gates)] {
			gates[i] += v
		}
	}
}

func (g *halfGates) Cell(pre, gates, c, h []float32, b, hid int) {
	switch g.kind {
	case model.LSTM:
		f32.LSTMCell(gates, c, h, b, hid, hid)
	case model.GRU:
		f32.GRUCell(pre, gates, h, b, hid)
	default:
		model.Activate(g.kind == model.RNNReLU, gates, h)
	}
}

// HalfEmbedding is nn.Embedding with a 16-bit float table: a row reads
// back exactly converted to float32.
type HalfEmbedding struct {
	Bits        []uint16 // ntoken×dim, row-major
	f           f16.Format
	tokens, dim int
}

// NewHalfEmbedding wraps a row-major ntoken×dim table of format f.
func NewHalfEmbedding(bits []uint16, tokens, dim int, f f16.Format) (*HalfEmbedding, error) {
	if tokens < 0 || dim < 0 || len(bits) != tokens*dim {
		return nil, fmt.Errorf("quant: embedding: %d values for %d×%d", len(bits), tokens, dim)
	}
	return &HalfEmbedding{Bits: bits, f: f, tokens: tokens, dim: dim}, nil
}

// roundEmbedding rounds a float32 table to f.
func roundEmbedding(w []float32, tokens, dim int, f f16.Format) (*HalfEmbedding, error) {
	if len(w) != tokens*dim {
		return nil, fmt.Errorf("quant: encoder.weight has %d values, want %d×%d", len(w), tokens, dim)
	}
	return NewHalfEmbedding(f16.Round(w, tokens, dim, f).Bits(), tokens, dim, f)
}

// Lookup implements model.Embedder.
func (e *HalfEmbedding) Lookup(dst []float32, ids []int32) {
	for i, id := range ids {
		row := e.Bits[int(id)*e.dim : (int(id)+1)*e.dim]
		d := dst[i*e.dim : (i+1)*e.dim]
		for c, h := range row {
			d[c] = e.f.ToFloat32(h)
		}
	}
}

func (e *HalfEmbedding) Tokens() int { return e.tokens }
func (e *HalfEmbedding) Dim() int    { return e.dim }

// Format returns the table's format.
func (e *HalfEmbedding) Format() f16.Format { return e.f }

// String prints the module as nn.Embedding in that dtype prints.
func (e *HalfEmbedding) String() string {
	return fmt.Sprintf("Embedding(%d, %d) (%s)", e.tokens, e.dim, torchDType(e.f))
}

// quantizeHalf builds the model of a 16-bit scheme (see Quantize).
func quantizeHalf(p *model.Params, s Scheme, f f16.Format) (*model.Model, error) {
	gh := p.Kind.Gates() * p.NHid
	layers := make([]HalfLayer, len(p.Layers))
	for k, lp := range p.Layers {
		in := p.NInp
		if k > 0 {
			in = p.NHid
		}
		wih, err := roundHalf(lp.Wih, gh, in, f)
		if err != nil {
			return nil, fmt.Errorf("quant: rnn.weight_ih_l%d: %w", k, err)
		}
		whh, err := roundHalf(lp.Whh, gh, p.NHid, f)
		if err != nil {
			return nil, fmt.Errorf("quant: rnn.weight_hh_l%d: %w", k, err)
		}
		layers[k] = HalfLayer{Wih: wih, Whh: whh, Bih: lp.Bih, Bhh: lp.Bhh}
	}
	dw, err := roundHalf(p.DecoderW, p.NToken, p.NHid, f)
	if err != nil {
		return nil, fmt.Errorf("quant: decoder.weight: %w", err)
	}
	m := &model.Model{
		RNN:     NewHalfRNN(p.Kind, layers, p.NInp, p.NHid),
		Decoder: NewHalfLinear(dw, p.DecoderB),
		Dropout: checkpoint.DefaultDropout,
	}
	switch {
	case s.Embedding8:
		m.Encoder, err = quantizeEmbedding(p.Encoder, p.NToken, p.NInp, 8)
	case s.Embedding32:
		m.Encoder = model.NewEmbedding(p.Encoder, p.NToken, p.NInp)
	default:
		m.Encoder, err = roundEmbedding(p.Encoder, p.NToken, p.NInp, f)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}
