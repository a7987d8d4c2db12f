package q8

import "github.com/lstmq/lstmq/internal/f32"

// blocksGeneric is the reference of the block-scaled MulU8Dequant
// (mulBlocks) for output columns [j0, j1) of every row:
//
//	var s float32
//	for b := range nb {
//		x := Σ_{p in block b} a[i*k+p]·W[j,p] − za·rs_{j,b}   // int32, wrapping
//		s = f32.FMA32(float32(x), scale_{j,b}, s)
//	}
//	dst[i*n+j] = f32.FMA32(s, sa, bias[j])                  // bias nil: 0
func (t *product) blocksGeneric(j0, j1 int) {
	p := t.p
	n, k := p.n, p.k
	for i := range t.m {
		ar := t.a[i*k : (i+1)*k]
		for j := j0; j < j1; j++ {
			var s, bias float32
			for b := range p.nb {
				mi := p.meta(j, b)
				x := p.dotRange(j, ar, b*p.block, min((b+1)*p.block, k)) - t.za*p.brs[mi]
				s = f32.FMA32(float32(x), p.bsc[mi], s)
			}
			if t.bias != nil {
				bias = t.bias[j]
			}
			t.dst[i*n+j] = f32.FMA32(s, t.sa, bias)
		}
	}
}

// dotRange returns Σ_{p0 ≤ q < p1} a[q]·W[j,q], reading row j of W from the
// packed layout (W[j,q] = b[(j/16)·kq·64 + (q/4)·64 + 4·(j%16) + q%4]).
func (p *Packed) dotRange(j int, a []uint8, p0, p1 int) int32 {
	b := p.b[(j/16)*p.kq*64+4*(j%16):]
	var s int32
	for q := p0; q < p1; q++ {
		s += int32(a[q]) * int32(b[(q/4)*64+q%4])
	}
	return s
}
