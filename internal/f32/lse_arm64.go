//go:build !purego

package f32

import "github.com/lstmq/lstmq/internal/cpu"

// portableSIMD reports whether LogSumExpPortable runs the NEON kernels
// (sumExpNEON, maxNEON), which give the AVX2 kernels' bits.
func portableSIMD() bool { return impl != cpu.Generic }

func maxPortable(x []float32) float32 {
	body := len(x) &^ 3
	mx := x[0]
	if body > 0 {
		mx = maxNEON(&x[0], body)
	}
	for _, v := range x[body:] {
		mx = max(mx, v)
	}
	return mx
}

func sumExpPortable(x []float32, sub float32) float64 {
	body := len(x) &^ 7
	if !portableSIMD() || body == 0 {
		return cephesSumExp(x, sub)
	}
	s := sumExpNEON(&x[0], body, sub)
	for _, v := range x[body:] {
		s += float64(cephesExp(float32(v - sub)))
	}
	return s
}
