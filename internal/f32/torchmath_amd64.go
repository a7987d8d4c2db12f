//go:build !purego

package f32

import "github.com/lstmq/lstmq/internal/cpu"

// Every SIMD level runs the 8-lane AVX2+FMA kernels of the PyTorch-exact
// math (AVX-512 CPUs have AVX2 and FMA too): a 16-lane variant would
// compute the same bits, lane for lane, and this code is not where the
// time goes.

// Kernels of sleefN.
const (
	kernExp = iota
	kernTanh
	kernSigmoid
)

// sleefN runs the 8-lane kernel kind on n elements, n a multiple of 8.
func sleefN(kind int, dst, x *float32, n int) {
	switch kind {
	case kernExp:
		sleefExp256(dst, x, n)
	case kernTanh:
		sleefTanh256(dst, x, n)
	default:
		sleefSigmoid256(dst, x, n)
	}
}

// sleefVec runs the kernel kind on all of x (dst may be x); a ragged end
// goes through it on a zero-padded copy.
func sleefVec(kind int, dst, x []float32) {
	dst = dst[:len(x)]
	body := len(x) &^ 7
	if body > 0 {
		sleefN(kind, &dst[0], &x[0], body)
	}
	if body == len(x) {
		return
	}
	var t [8]float32
	copy(t[:], x[body:])
	sleefN(kind, &t[0], &t[0], 8)
	copy(dst[body:], t[:])
}

func expTorch(lv cpu.Level, dst, x []float32)  { sleefVec(kernExp, dst, x) }
func tanhTorch(lv cpu.Level, dst, x []float32) { sleefVec(kernTanh, dst, x) }

func sigmoidTorch(lv cpu.Level, dst, x []float32, block int) {
	nv := len(x) - len(x)%block
	if nv > 0 {
		sleefN(kernSigmoid, &dst[0], &x[0], nv)
	}
	for i := nv; i < len(x); i++ {
		dst[i] = sigmoidGlibc(x[i])
	}
}

// lstmCellTorchRow is one row of LSTMCellTorch: the kernel takes the
// first ⌊h/block⌋·block columns; on the rest the sigmoids are glibc's, in
// Go, and the tanhs go through the Sleef kernel on a copy.
func lstmCellTorchRow(lv cpu.Level, g, c, hOut []float32, h, block int) {
	nv := h - h%block
	if nv > 0 {
		lstmCellTorch256(&g[0], h, &c[0], &hOut[0], nv)
	}
	const m = 32
	for j0 := nv; j0 < h; j0 += m {
		n := min(m, h-j0)
		var t, o [m]float32
		sleefVec(kernTanh, t[:n], g[2*h+j0:2*h+j0+n])
		for k := range n {
			j := j0 + k
			ig, fg := sigmoidGlibc(g[j]), sigmoidGlibc(g[h+j])
			o[k] = sigmoidGlibc(g[3*h+j])
			cj := float32(float32(fg*c[j]) + float32(ig*t[k]))
			c[j], t[k] = cj, cj
		}
		sleefVec(kernTanh, t[:n], t[:n])
		for k := range n {
			hOut[j0+k] = float32(o[k] * t[k])
		}
	}
}
