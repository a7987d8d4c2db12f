package quant

import (
	"github.com/lstmq/lstmq/internal/q8"
	"github.com/lstmq/lstmq/model"
)

// newKernel picks the product for w: internal/q8's packed kernels, with
// one scale per tensor or per row (q8.Pack) or one per row and block of
// inputs (q8.PackBlocks). q is W_q row-major.
func newKernel(w *Weight, q []int8) kernel {
	if w.Block == 0 {
		return q8Kernel{q8.Pack(q, w.Rows, w.Cols, w.Scales)}
	}
	return q8Kernel{q8.PackBlocks(q, w.Rows, w.Cols, w.Block, w.Scales)}
}

// q8Kernel runs q8's MulU8Dequant: FBGEMM's arithmetic for per tensor and
// per channel scales, one fused multiply-add per block for block scales
// (see kernel.mulDequant).
type q8Kernel struct{ p *q8.Packed }

func (k q8Kernel) requireExact(maxA uint8) { k.p.RequireExact(maxA) }

func (k q8Kernel) mulDequant(w *model.Work, dst []float32, a []uint8, m int, sa float32, za int32, bias []float32) {
	k.p.MulU8Dequant(w.Pool(), dst, a, m, sa, za, bias)
}
