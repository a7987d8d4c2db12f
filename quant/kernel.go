package quant

import (
	"github.com/lstmq/lstmq/internal/q8"
	"github.com/lstmq/lstmq/model"
)

// newKernel picks the product for w: internal/q8's packed kernels, one
// matrix for per tensor and per channel scales, one per block of inputs for
// block scales (q8 has one scale per row). q is W_q row-major.
func newKernel(w *Weight, q []int8) kernel {
	if w.Block == 0 {
		return q8Kernel{q8.Pack(q, w.Rows, w.Cols, w.Scales)}
	}
	nb := (w.Cols + w.Block - 1) / w.Block
	k := &blockKernel{n: w.Rows, k: w.Cols, block: w.Block}
	for b := range nb {
		p0, p1 := b*w.Block, min((b+1)*w.Block, w.Cols)
		qb := make([]int8, 0, w.Rows*(p1-p0))
		s := make([]float32, w.Rows)
		for j := range w.Rows {
			qb = append(qb, q[j*w.Cols+p0:j*w.Cols+p1]...)
			s[j] = w.Scales[j*nb+b]
		}
		k.packs = append(k.packs, q8.Pack(qb, w.Rows, p1-p0, s))
	}
	return k
}

type q8Kernel struct{ p *q8.Packed }

func (k q8Kernel) requireExact(maxA uint8) { k.p.RequireExact(maxA) }

func (k q8Kernel) mulDequant(w *model.Work, dst []float32, a []uint8, m int, sa float32, za int32, bias []float32) {
	k.p.MulU8Dequant(w.Pool(), dst, a, m, sa, za, bias)
}

// blockKernel runs a block-scaled product as one q8 product per block of
// inputs, summing the dequantized partial results in block order (the
// reference's order, so the results agree bit for bit), then the bias.
type blockKernel struct {
	n, k, block int
	packs       []*q8.Packed
}

func (b *blockKernel) requireExact(maxA uint8) {
	for _, p := range b.packs {
		p.RequireExact(maxA)
	}
}

func (b *blockKernel) mulDequant(wk *model.Work, dst []float32, a []uint8, m int, sa float32, za int32, bias []float32) {
	mk := wk.Mark()
	defer wk.Release(mk)
	blockA := wk.Uint8s(m * b.block) // m×block activations of one block
	part := wk.Float32s(m * b.n)     // m×n partial outputs
	dst = dst[:m*b.n]
	for i, p := range b.packs {
		p0, w := i*b.block, p.Cols()
		buf := blockA[:m*w]
		for r := range m {
			copy(buf[r*w:(r+1)*w], a[r*b.k+p0:r*b.k+p0+w])
		}
		if i == 0 {
			p.MulU8Dequant(wk.Pool(), dst, buf, m, sa, za, nil)
			continue
		}
		p.MulU8Dequant(wk.Pool(), part, buf, m, sa, za, nil)
		for j, v := range part {
			dst[j] += v
		}
	}
	if bias != nil {
		for r := range m {
			row := dst[r*b.n : (r+1)*b.n]
			for j := range row {
				row[j] += bias[j]
			}
		}
	}
}
