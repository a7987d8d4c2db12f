//go:build !purego

package f32

import "github.com/lstmq/lstmq/internal/cpu"

// portableSIMD reports whether LogSumExpPortable runs the AVX2 kernels:
// with any SIMD family in use (the AVX-512 one included: its sum has
// another order, so the AVX2 one runs).
func portableSIMD() bool { return impl != cpu.Generic && cpu.Has(cpu.AVX2) }

func maxPortable(x []float32) float32 { return maxVec(cpu.AVX2, x) }

func sumExpPortable(x []float32, sub float32) float64 {
	if portableSIMD() {
		return sumExpVec(cpu.AVX2, x, sub)
	}
	return cephesSumExp(x, sub)
}
