package f32

import "math"

func lstmCellGeneric(gates, c, hOut []float32, b, h, hStride int) {
	for r := range b {
		lstmCellRowGeneric(gates[r*4*h:r*4*h+4*h], c[r*h:r*h+h], c[r*h:r*h+h], hOut[r*hStride:r*hStride+h], h, false)
	}
}

// lstmCellRowGeneric is one row of the LSTM step, the reference every
// variant follows: from the pre-activations g = [ĩ f̃ g̃ õ] and the previous
// cell cPrev, it writes c = f⊙cPrev + i⊙g and h = o⊙tanh(c) (c may be
// cPrev); with keep, g is overwritten with the activations [i f g o].
func lstmCellRowGeneric(g, cPrev, c, hOut []float32, h int, keep bool) {
	for j := range h {
		ig := sigmoid(g[j])
		fg := sigmoid(g[h+j])
		gg := tanh(g[2*h+j])
		og := sigmoid(g[3*h+j])
		if keep {
			g[j], g[h+j], g[2*h+j], g[3*h+j] = ig, fg, gg, og
		}
		cj := fg*cPrev[j] + ig*gg
		c[j] = cj
		hOut[j] = og * tanh(cj)
	}
}

func sigmoid(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }

func tanh(x float32) float32 { return float32(math.Tanh(float64(x))) }

func maxGeneric(x []float32) float32 {
	mx := x[0]
	for _, v := range x[1:] {
		mx = max(mx, v)
	}
	return mx
}

func logSumExpGeneric(x []float32) float32 {
	mx := maxGeneric(x)
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v - mx))
	}
	return mx + float32(math.Log(s))
}

func softmaxGeneric(dst, x []float32, t float32) {
	inv := 1 / t
	mx := x[0] * inv
	for _, v := range x[1:] {
		mx = max(mx, v*inv)
	}
	r := float32(1 / expSumGeneric(dst, x, inv, mx))
	for i := range dst[:len(x)] {
		dst[i] *= r
	}
}

// expSumGeneric is ExpSum's reference: exp in float64, rounded once.
func expSumGeneric(dst, x []float32, inv, sub float32) float64 {
	var s float64
	for i, v := range x {
		e := math.Exp(float64(v*inv - sub))
		dst[i] = float32(e)
		s += e
	}
	return s
}

// gruCellRowGeneric is one row of the GRU step, the reference every variant
// follows (see GRUCell). The products and sums round in float32 one at a
// time, in PyTorch's order.
func gruCellRowGeneric(pre, g, h []float32, hid int) {
	for j := range hid {
		r := sigmoid(g[j] + pre[j])
		z := sigmoid(g[hid+j] + pre[hid+j])
		n := tanh(pre[2*hid+j] + float32(r*g[2*hid+j]))
		h[j] = float32((h[j]-n)*z) + n
	}
}

func relu(x float32) float32 {
	if x > 0 || x != x {
		return x
	}
	return 0
}
