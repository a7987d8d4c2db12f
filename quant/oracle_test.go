package quant

// genericKernel is the tests' oracle: exact int32 products, then one
// dequantization per output (per block for block scales), written as the
// formulas read. q is W_q row-major.
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
			var sum float32
			for b := range nb {
				p0, p1 := b*bs, min((b+1)*bs, k)
				var acc, rowSum int32
				for p := p0; p < p1; p++ {
					acc += int32(ar[p]) * int32(wr[p])
					rowSum += int32(wr[p])
				}
				s := w.Scales[0]
				switch {
				case w.Block > 0:
					s = w.Scales[j*nb+b]
				case len(w.Scales) > 1:
					s = w.Scales[j]
				}
				v := float32(float32(acc-za*rowSum) * (sa * s)) // rounded: no fused multiply-add (arm64)
				if nb == 1 {
					sum = v
				} else {
					sum += v
				}
			}
			if bias != nil {
				sum += bias[j]
			}
			dst[i*n+j] = sum
		}
	}
}
