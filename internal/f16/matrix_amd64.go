//go:build !purego

package f16

import (
	xcpu "golang.org/x/sys/cpu"

	"github.com/lstmq/lstmq/internal/cpu"
)

// impls are the SIMD implementations, best first (cpu.Register): the AVX2
// kernels need F16C (VCVTPH2PS) besides AVX2 and FMA.
var impls = func() []cpu.Impl {
	if !xcpu.X86.HasF16C {
		return nil
	}
	return []cpu.Impl{{Name: "avx2", Level: cpu.AVX2}}
}()

// maxMR is the most rows of x a micro-kernel handles.
const maxMR = 6

// tileWidths lists the panel counts of the tiles used for m rows, widest first.
func tileWidths(m int) []int {
	switch m {
	case 1:
		return []int{4, 2, 1}
	case 2:
		return []int{2, 1}
	}
	return []int{1}
}

func tile(f Format, mr, nv int, dst *float32, ldd int, x *float32, ldx int, w *uint16, k, ks int, bias *float32, mode int) {
	if !gemm256(f == BF16, mr, nv, dst, ldd, x, ldx, w, k, ks, bias, mode) {
		panic("f16: no micro-kernel for this tile")
	}
}

// mulPacked computes output columns [lo, hi) of the product with the AVX2
// micro-kernels, lo a multiple of panel. Column blocks are the outer loop,
// so each block of W is read once and reused for all m rows.
func mulPacked(a *Matrix, dst, x []float32, m, lo, hi int, bias []float32, mode int) {
	n, k, ks := a.n, a.k, a.ks
	nb := (m + maxMR - 1) / maxMR // row tiles, sized evenly
	full := lo + (hi-lo)&^(panel-1)
	j := lo
	for _, nv := range tileWidths(m) {
		for ; j+nv*panel <= full; j += nv * panel {
			var bj *float32
			if mode == modeBias {
				bj = &bias[j]
			}
			for b, i0 := 0, 0; b < nb; b++ {
				mr := (m - i0 + nb - b - 1) / (nb - b)
				tile(a.f, mr, nv, &dst[i0*n+j], n, &x[i0*k], k, &a.p[j*ks], k, ks, bj, mode)
				i0 += mr
			}
		}
	}
	if full == hi {
		return
	}
	// The last, partial panel: compute 16 columns into tmp, keep hi−full.
	var tmp [maxMR * panel]float32
	for b, i0 := 0, 0; b < nb; b++ {
		mr := (m - i0 + nb - b - 1) / (nb - b)
		tile(a.f, mr, 1, &tmp[0], panel, &x[i0*k], k, &a.p[full*ks], k, ks, nil, modeStore)
		for r := range mr {
			d := dst[(i0+r)*n+full : (i0+r)*n+hi]
			s := tmp[r*panel : r*panel+len(d)]
			switch mode {
			case modeStore:
				copy(d, s)
			case modeBias:
				for q := range d {
					d[q] = s[q] + bias[full+q]
				}
			default:
				for q := range d {
					d[q] += s[q]
				}
			}
		}
		i0 += mr
	}
}
