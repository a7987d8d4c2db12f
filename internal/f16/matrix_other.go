//go:build !amd64 || purego

package f16

import "github.com/lstmq/lstmq/internal/cpu"

// impls is empty: this build has only the reference.
var impls []cpu.Impl

func mulPacked(a *Matrix, dst, x []float32, m, lo, hi int, bias []float32, mode int) {
	panic("f16: no SIMD kernels in this build")
}
