//go:build !amd64 || purego

package f32

import "github.com/lstmq/lstmq/internal/cpu"

// Without SIMD kernels impl is always cpu.Generic and these are unreachable.

func lstmCellTorchRow(lv cpu.Level, g, c, hOut []float32, h, block int) {
	lstmCellTorchRowGeneric(g, c, hOut, h, block)
}

func sigmoidTorch(lv cpu.Level, dst, x []float32, block int) { sigmoidTorchGeneric(dst, x, block) }

func tanhTorch(lv cpu.Level, dst, x []float32) {
	for i, v := range x {
		dst[i] = sleefTanhf(v)
	}
}

func expTorch(lv cpu.Level, dst, x []float32) {
	for i, v := range x {
		dst[i] = sleefExpf(v)
	}
}
