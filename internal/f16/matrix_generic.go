package f16

import "github.com/lstmq/lstmq/internal/f32"

// mulGeneric computes output columns [lo, hi) of the product (see Mul and
// MulAdd) from the packed panels, in the order the package doc gives.
func mulGeneric(a *Matrix, dst, x []float32, m, lo, hi int, bias []float32, mode int) {
	n, k := a.n, a.k
	for j := lo; j < hi; j++ {
		pp := a.p[j/panel*panel*a.ks+j%panel:]
		for i := range m {
			xi := x[i*k : i*k+k]
			var s float32
			for q, v := range xi {
				s = f32.FMA32(v, a.f.ToFloat32(pp[q*panel]), s)
			}
			d := &dst[i*n+j]
			switch mode {
			case modeStore:
				*d = s
			case modeBias:
				*d = s + bias[j]
			default:
				*d += s
			}
		}
	}
}
