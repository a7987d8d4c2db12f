package f32

import (
	"math"

	"github.com/lstmq/lstmq/internal/cpu"
)

// LSTMCell applies one LSTM step's pointwise part to a batch of b rows, with
// the pre-activations of the four gates in PyTorch's order (i, f, g, o):
//
//	gates[r*4h : r*4h+4h] = [ĩ | f̃ | g̃ | õ]  (each h wide)
//	i = σ(ĩ), f = σ(f̃), g = tanh(g̃), o = σ(õ)
//	c' = f⊙c + i⊙g
//	h' = o⊙tanh(c')
//
// c (b×h) is updated in place and h' is written to hOut (b×h, row stride hStride).
// The SIMD variants use the vectorized exp (see the package doc).
func LSTMCell(gates, c, hOut []float32, b, h, hStride int) {
	if impl == cpu.Generic {
		lstmCellGeneric(gates, c, hOut, b, h, hStride)
		return
	}
	for r := range b {
		lstmCellRow(impl, gates[r*4*h:r*4*h+4*h], c[r*h:r*h+h], hOut[r*hStride:r*hStride+h], h)
	}
}

// LSTMCellKeep is LSTMCell for training, always on the reference (float64
// exp): it reads the previous cell from cPrev and writes the new one to c
// (b×h each), h' to hOut (b×h), and overwrites gates with the activations
// [i f g o] that the backward pass needs.
func LSTMCellKeep(gates, cPrev, c, hOut []float32, b, h int) {
	for r := range b {
		lstmCellRowGeneric(gates[r*4*h:r*4*h+4*h], cPrev[r*h:r*h+h], c[r*h:r*h+h], hOut[r*h:r*h+h], h, true)
	}
}

// LogSumExp returns log Σ exp(x[i]), computed as max + log Σ exp(x[i] − max)
// with the sum in float64.
func LogSumExp(x []float32) float32 {
	if len(x) == 0 {
		return float32(math.Inf(-1))
	}
	if impl == cpu.Generic {
		return logSumExpGeneric(x)
	}
	mx := maxVec(impl, x)
	return mx + float32(math.Log(sumExpVec(impl, x, mx)))
}

// Softmax writes dst[i] = exp(x[i]/t − max) / Σ exp(x[j]/t − max) for
// temperature t > 0, where x[i]/t is computed as x[i]·(1/t).
func Softmax(dst, x []float32, t float32) {
	if len(x) == 0 {
		return
	}
	dst = dst[:len(x)]
	if impl == cpu.Generic {
		softmaxGeneric(dst, x, t)
		return
	}
	inv := 1 / t
	var mx float32
	if inv > 0 {
		// Rounding is monotone, so max(x[i]·inv) = max(x[i])·inv exactly.
		mx = maxVec(impl, x) * inv
	} else {
		mx = x[0] * inv
		for _, v := range x[1:] {
			mx = max(mx, v*inv)
		}
	}
	scaleVec(impl, dst, float32(1/expScaleVec(impl, dst, x, inv, mx)))
}

// Scale sets x_i = float32(x_i·a) in place, each product rounded once, as
// the scalar loop rounds it (SIMD lanes change nothing but the speed).
func Scale(x []float32, a float32) {
	if impl == cpu.Generic {
		for i := range x {
			x[i] *= a
		}
		return
	}
	scaleVec(impl, x, a)
}

// Max returns the largest of x (x non-empty, without NaN).
func Max(x []float32) float32 {
	if impl == cpu.Generic {
		return maxGeneric(x)
	}
	return maxVec(impl, x)
}

// ExpSum sets dst_i = exp(x_i·inv − sub) and returns Σ dst_i in float64:
// Softmax without its normalization, for a caller that splits a long x
// into blocks (sub ≥ every x_i·inv keeps each term ≤ 1). The sum's order
// depends only on len(x), so a block gives the same sum whoever runs it.
func ExpSum(dst, x []float32, inv, sub float32) float64 {
	dst = dst[:len(x)]
	if impl == cpu.Generic {
		return expSumGeneric(dst, x, inv, sub)
	}
	return expScaleVec(impl, dst, x, inv, sub)
}

// GRUCell applies one GRU step's pointwise part to a batch of b rows, as
// PyTorch's GRU cell computes it, with the input part pre = W_ih·x + b_ih
// and the hidden part gates = W_hh·h + b_hh (b×3h each, gate blocks in
// PyTorch's order r, z, n):
//
//	r = σ(gates_r + pre_r)
//	z = σ(gates_z + pre_z)
//	n = tanh(pre_n + r⊙gates_n)      (b_hn stays inside the product with r)
//	h' = (h − n)⊙z + n               (= (1 − z)⊙n + z⊙h)
//
// h (b×h) is updated in place. The SIMD variants use the vectorized exp.
func GRUCell(pre, gates, h []float32, b, hid int) {
	if len(pre) < b*3*hid || len(gates) < b*3*hid || len(h) < b*hid {
		panic("f32: GRUCell: short operand")
	}
	for r := range b {
		p, g, hr := pre[r*3*hid:(r+1)*3*hid], gates[r*3*hid:(r+1)*3*hid], h[r*hid:(r+1)*hid]
		if impl == cpu.Generic {
			gruCellRowGeneric(p, g, hr, hid)
		} else {
			gruCellRow(impl, p, g, hr, hid)
		}
	}
}

// ReLU sets dst[i] = max(x[i], 0), the activation of RNN_RELU (dst may be
// x). A NaN stays NaN, as in torch.relu.
func ReLU(dst, x []float32) {
	dst = dst[:len(x)]
	if impl == cpu.Generic {
		for i, v := range x {
			dst[i] = relu(v)
		}
		return
	}
	reluVec(impl, dst, x)
}
