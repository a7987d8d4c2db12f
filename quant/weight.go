package quant

import (
	"fmt"

	"github.com/lstmq/lstmq/internal/f32"
	"github.com/lstmq/lstmq/internal/q8"
	"github.com/lstmq/lstmq/model"
)

// Weight is an int8 weight matrix W_q (Rows×Cols; PyTorch's layout is
// row-major) with symmetric scales (zero point 0): W ≈ scale·W_q with
//
//	Block == 0, len(Scales) == 1:     one scale (per tensor)
//	Block == 0, len(Scales) == Rows:  Scales[j] for row j (per channel)
//	Block  > 0:                        Scales[j*nb+b] for row j, inputs
//	                                   [b·Block, (b+1)·Block), nb = ceil(Cols/Block)
//
// W_q is held only in the layout of the kernel that runs it (internal/q8's
// packed panels, with the scales and row sums of every block for block
// scales); Q rebuilds the row-major matrix when one is needed (to save the
// model).
type Weight struct {
	Rows, Cols int
	Scales     []float32
	Block      int
	// Offsets, of a weight in an affine low-bit format (lowbit.go), add
	// Offsets[j*nb+b] per block: W ≈ scale·W_q + offset. nil otherwise.
	Offsets []float32

	kern      kernel
	invScales []float32   // the onednn arithmetic's inv_w (Block 0)
	offsets   *f32.Matrix // Offsets as a Rows×nb matrix, for the product
	low       *lowBitData // the file's form of a low-bit weight
}

// NewWeight checks the shapes and packs q
// (row-major Rows×Cols) for the kernel; q is not kept.
func NewWeight(q []int8, rows, cols int, scales []float32, block int) (*Weight, error) {
	if rows < 0 || cols < 0 || len(q) != rows*cols {
		return nil, fmt.Errorf("quant: weight of %d values is not %d×%d", len(q), rows, cols)
	}
	nb := 1
	if block > 0 {
		nb = (cols + block - 1) / block
	}
	switch {
	case block < 0:
		return nil, fmt.Errorf("quant: negative block size %d", block)
	case block == 0 && len(scales) != 1 && len(scales) != rows:
		return nil, fmt.Errorf("quant: %d scales for %d rows", len(scales), rows)
	case block > 0 && len(scales) != rows*nb:
		return nil, fmt.Errorf("quant: %d scales for %d rows of %d blocks", len(scales), rows, nb)
	}
	for _, s := range scales {
		if !(s > 0) || s > 3.4e38 {
			return nil, fmt.Errorf("quant: invalid scale %v", s)
		}
	}
	w := &Weight{Rows: rows, Cols: cols, Scales: scales, Block: block}
	w.kern = newKernel(w, q)
	if block == 0 {
		w.invScales = invScales(scales)
	}
	return w, nil
}

// Q returns W_q row-major (Rows×Cols), a new slice rebuilt from the packed
// kernel: W_q[j*Cols+p] is weight p of output j.
func (w *Weight) Q() []int8 {
	switch k := w.kern.(type) {
	case q8Kernel:
		return k.p.Weights()
	}
	panic("quant: weight without a kernel")
}

// QScheme is PyTorch's name of the weight's quantization scheme.
func (w *Weight) QScheme() string {
	if w.Block == 0 && len(w.Scales) == 1 {
		return "torch.per_tensor_affine"
	}
	return "torch.per_channel_affine"
}

// kind names the weight granularity as Scheme.Weights does.
func (w *Weight) kind() string {
	switch {
	case w.low != nil:
		return w.low.f.String()
	case w.Block > 0:
		return fmt.Sprintf("block%d", w.Block)
	case len(w.Scales) == 1 && w.Rows != 1:
		return "tensor"
	default:
		return "channel"
	}
}

// Dequantize returns scale·W_q as float32, row-major (a low-bit weight's
// values as its format reads them back).
func (w *Weight) Dequantize() []float32 {
	if w.low != nil {
		return w.low.dequantize()
	}
	q := w.Q()
	out := make([]float32, len(q))
	for j := range w.Rows {
		for p := range w.Cols {
			out[j*w.Cols+p] = float32(q[j*w.Cols+p]) * w.scale(j, p)
		}
	}
	return out
}

func (w *Weight) scale(j, p int) float32 {
	switch {
	case w.Block > 0:
		nb := (w.Cols + w.Block - 1) / w.Block
		return w.Scales[j*nb+p/w.Block]
	case len(w.Scales) == 1:
		return w.Scales[0]
	default:
		return w.Scales[j]
	}
}

// kernel computes the dequantized product of uint8 activations with W_q.
type kernel interface {
	// mulDequant sets, for m rows of a (m×Cols), dst[i*Rows+j] =
	// float32(acc − za·rowsum_j)·(sa·scale_j) + bias[j] (FBGEMM's roundings)
	// for Block 0, and for block scales
	//	s = fma(float32(acc_b − za·rowsum_{j,b}), scale_{j,b}, s) per block, from s = 0,
	//	then fma(s, sa, bias[j])
	// (q8.Packed.MulU8Dequant; bias may be nil).
	mulDequant(w *model.Work, dst []float32, a []uint8, m int, sa float32, za int32, bias []float32)
	// requireExact makes the products exact for activations up to maxA.
	requireExact(maxA uint8)
}

// act quantizes activations per call, per tensor, and runs a Weight's
// dynamic quantized product; qmax is the activations' largest code.
type act struct{ qmax int32 }

// forward computes dst = dequant(quant(x)·W_qᵀ) + bias for m rows of x, the
// activation scale and zero point chosen over all m rows.
func (q act) forward(wk *model.Work, w *Weight, dst, x []float32, m int, bias []float32) {
	mk := wk.Mark()
	defer wk.Release(mk)
	if q.onednn(w) {
		a, inv, zp := quantizeOneDNN(wk, x[:m*w.Cols])
		w.mulOneDNN(wk, dst, a, m, inv, zp, bias)
		return
	}
	a, s, zp := q.quantize(wk, x[:m*w.Cols])
	w.mulDequant(wk, dst, a, m, s, zp, bias)
}

// quantize returns x quantized to [0, qmax] in a scratch buffer of wk,
// with its scale and zero point, as PyTorch's dynamic modules choose them.
func (q act) quantize(wk *model.Work, x []float32) (a []uint8, s float32, zp int32) {
	lo, hi := q8.MinMax(x)
	s, zp = ChooseActivationParams(lo, hi, 0, q.qmax)
	a = wk.Uint8s(len(x))
	q8.QuantizeU8(a, x, 1/s, zp, q.qmax)
	return a, s, zp
}
