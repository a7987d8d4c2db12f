package quant

import "github.com/lstmq/lstmq/internal/f32"

// genericKernel is the tests' oracle: exact int32 products, then the
// dequantization written as the formulas read (kernel.mulDequant): for
// per tensor and per channel scales one product and one sum per output,
// each rounded (FBGEMM's order); for block scales one fused multiply-add
// per block in block order from 0, then one with sa and the bias. q is
// W_q row-major.
type genericKernel struct {
	w *Weight
	q []int8
}

func (g genericKernel) mulDequant(dst []float32, a []uint8, m int, sa float32, za int32, bias []float32) {
	w := g.w
	n, k := w.Rows, w.Cols
	bs, nb := k, 1
	if w.Block > 0 {
		bs, nb = w.Block, (k+w.Block-1)/w.Block
	}
	for i := range m {
		ar := a[i*k : (i+1)*k]
		for j := range n {
			wr := g.q[j*k : (j+1)*k]
			var bj float32
			if bias != nil {
				bj = bias[j]
			}
			var sum float32
			for b := range nb {
				p0, p1 := b*bs, min((b+1)*bs, k)
				var acc, rowSum int32
				for p := p0; p < p1; p++ {
					acc += int32(ar[p]) * int32(wr[p])
					rowSum += int32(wr[p])
				}
				x := float32(acc - za*rowSum)
				switch {
				case w.Block > 0:
					sum = f32.FMA32(x, w.Scales[j*nb+b], sum) // one rounding
				case len(w.Scales) > 1:
					sum = float32(x * (sa * w.Scales[j])) // rounded: no fused multiply-add (arm64)
				default:
					sum = float32(x * (sa * w.Scales[0]))
				}
			}
			switch {
			case w.Block > 0:
				sum = f32.FMA32(sum, sa, bj)
			case bias != nil:
				sum += bj
			}
			dst[i*n+j] = sum
		}
	}
}
