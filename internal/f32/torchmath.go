package f32

import "github.com/lstmq/lstmq/internal/cpu"

// Block widths of PyTorch's vectorized sigmoid (2·Vectorized<float>::size()
// elements per iteration of cpu_kernel_vec): a contiguous row of n elements
// takes the vector path on its first ⌊n/block⌋·block elements and the scalar
// one on the rest.
const (
	TorchBlockAVX2   = 16 // PyTorch's AVX2 kernels (the Debian build this package matches)
	TorchBlockAVX512 = 32 // PyTorch's AVX512 kernels
)

// LSTMCellTorch is LSTMCell computed bit for bit as PyTorch 1.13 (Debian
// build: Sleef 3.5.1, glibc 2.36, AVX2 kernels) computes its LSTM cell,
// quantized dynamic LSTM included:
//
//	gates[r*4h : r*4h+4h] = [ĩ | f̃ | g̃ | õ]  (each h wide)
//	i, f, o = sigmoid_(chunk) per row: σ(a) = 1/f32(expf_u10(0−a)+1) (Sleef)
//	          on the first ⌊h/16⌋·16 elements, 1/(1+expf(−a)) (glibc) on the rest
//	g = tanhf_u10(g̃) (Sleef, every element)
//	c' = f32(f32(f·c) + f32(i·g))   (two products and a sum, no FMA)
//	h' = f32(o · tanhf_u10(c'))
//
// c (b×h) is updated in place and h' is written to hOut (b×h, row stride
// hStride). Every variant gives the same bits.
func LSTMCellTorch(gates, c, hOut []float32, b, h, hStride int) {
	LSTMCellTorchBlock(gates, c, hOut, b, h, hStride, TorchBlockAVX2)
}

// LSTMCellTorchBlock is LSTMCellTorch with the sigmoid's block width of
// another PyTorch build (TorchBlockAVX512 for its AVX-512 kernels, whose
// Sleef functions compute the same values 16 lanes at a time); block must
// be a positive multiple of 8.
func LSTMCellTorchBlock(gates, c, hOut []float32, b, h, hStride, block int) {
	checkBlock(block)
	for r := range b {
		g, cr, hr := gates[r*4*h:r*4*h+4*h], c[r*h:r*h+h], hOut[r*hStride:r*hStride+h]
		if impl == cpu.Generic {
			lstmCellTorchRowGeneric(g, cr, hr, h, block)
		} else {
			lstmCellTorchRow(impl, g, cr, hr, h, block)
		}
	}
}

// SigmoidTorch sets dst[i] = σ(x[i]) as torch.sigmoid computes it on one
// contiguous row of len(x) elements: Sleef's expf on the first
// ⌊len(x)/block⌋·block, glibc's on the rest (see LSTMCellTorch); block is
// TorchBlockAVX2 or another positive multiple of 8.
func SigmoidTorch(dst, x []float32, block int) {
	checkBlock(block)
	dst = dst[:len(x)]
	if impl == cpu.Generic {
		sigmoidTorchGeneric(dst, x, block)
		return
	}
	sigmoidTorch(impl, dst, x, block)
}

// TanhTorch sets dst[i] = tanh(x[i]) as torch.tanh computes it: Sleef's
// tanhf_u10 on every element. A NaN gives the bits 0xFFFFFFFF.
func TanhTorch(dst, x []float32) {
	dst = dst[:len(x)]
	if impl == cpu.Generic {
		for i, v := range x {
			dst[i] = sleefTanhf(v)
		}
		return
	}
	tanhTorch(impl, dst, x)
}

// ExpTorch sets dst[i] = exp(x[i]) as torch.exp computes it: Sleef's
// expf_u10 on every element (0 below −104, +Inf above 100).
func ExpTorch(dst, x []float32) {
	dst = dst[:len(x)]
	if impl == cpu.Generic {
		for i, v := range x {
			dst[i] = sleefExpf(v)
		}
		return
	}
	expTorch(impl, dst, x)
}

func checkBlock(block int) {
	if block <= 0 || block%8 != 0 {
		panic("f32: block must be a positive multiple of 8")
	}
}

// GRUCellTorch is GRUCell computed as PyTorch 1.13 computes its GRU cell
// (quantized dynamic GRU included), one tensor operation after another on
// each row's h-wide chunks:
//
//	r = sigmoid_(gates_r + pre_r)    (SigmoidTorch, block as LSTMCellTorchBlock)
//	z = sigmoid_(gates_z + pre_z)
//	n = tanh_(pre_n + gates_n·r)     (TanhTorch; product and sum rounded apart)
//	h' = (h − n)·z + n
//
// gates is overwritten (with r, z and n); h (b×h) is updated in place.
func GRUCellTorch(pre, gates, h []float32, b, hid, block int) {
	checkBlock(block)
	if len(pre) < b*3*hid || len(gates) < b*3*hid || len(h) < b*hid {
		panic("f32: GRUCellTorch: short operand")
	}
	for row := range b {
		p, g, hr := pre[row*3*hid:(row+1)*3*hid], gates[row*3*hid:(row+1)*3*hid], h[row*hid:(row+1)*hid]
		r, z, n := g[:hid], g[hid:2*hid], g[2*hid:3*hid]
		for j := range hid {
			r[j] += p[j]
			z[j] += p[hid+j]
		}
		SigmoidTorch(r, r, block)
		SigmoidTorch(z, z, block)
		for j := range hid {
			n[j] = p[2*hid+j] + float32(n[j]*r[j])
		}
		TanhTorch(n, n)
		for j := range hid {
			hr[j] = float32((hr[j]-n[j])*z[j]) + n[j]
		}
	}
}
