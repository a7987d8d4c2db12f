//go:build !(amd64 || arm64) || purego

package f32

import "github.com/lstmq/lstmq/internal/cpu"

// impls is empty: this build has only the reference.
var impls []cpu.Impl

func mulPacked(lv cpu.Level, dst []float32, ldd int, x []float32, m int, wp []float32, k, lo, hi int, bias []float32, mode int) {
	panic("f32: no SIMD kernels in this build")
}

func mulBlocks(lv cpu.Level, dst, x []float32, m int, w []float32, n, k, lo, hi int, bias []float32, mode int) {
	panic("f32: no SIMD kernels in this build")
}
