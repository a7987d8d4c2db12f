//go:build !amd64 || purego

package f32

import (
	"math"

	"github.com/lstmq/lstmq/internal/cpu"
)

// Without SIMD kernels impl is always cpu.Generic and these are unreachable.

func lstmCellRow(lv cpu.Level, g, c, hOut []float32, h int) {
	lstmCellGeneric(g, c, hOut, 1, h, h)
}

func gruCellRow(lv cpu.Level, pre, g, hOut []float32, h int) { gruCellRowGeneric(pre, g, hOut, h) }

func reluVec(lv cpu.Level, dst, x []float32) {
	for i, v := range x {
		dst[i] = relu(v)
	}
}

func maxVec(lv cpu.Level, x []float32) float32 { return maxGeneric(x) }

func sumExpVec(lv cpu.Level, x []float32, sub float32) float64 {
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v - sub))
	}
	return s
}

func expScaleVec(lv cpu.Level, dst, x []float32, inv, sub float32) float64 {
	return expSumGeneric(dst, x, inv, sub)
}

func scaleVec(lv cpu.Level, x []float32, r float32) {
	for i := range x {
		x[i] *= r
	}
}
