//go:build !purego

package f32

import "github.com/lstmq/lstmq/internal/cpu"

// portableSIMD reports whether LogSumExpPortable runs the SIMD kernels:
// with any SIMD family in use. The sum is the AVX2 kernel's; at the
// AVX-512 level sumExpPortable512 computes the same sum, in the same
// order, with its exponentials sixteen at a time (sumExp512's order
// differs, so it does not serve).
func portableSIMD() bool { return impl != cpu.Generic && cpu.Has(cpu.AVX2) }

func maxPortable(x []float32) float32 { return maxVec(impl, x) }

func sumExpPortable(x []float32, sub float32) float64 {
	switch {
	case !portableSIMD():
		return cephesSumExp(x, sub)
	case impl < cpu.AVX512:
		return sumExpVec(cpu.AVX2, x, sub)
	}
	body := len(x) &^ 7
	var s float64
	if body > 0 {
		s = sumExpPortable512(&x[0], body, sub)
	}
	return sumExpTail(cpu.AVX2, x[body:], sub, s)
}
