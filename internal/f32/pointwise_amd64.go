//go:build !purego

package f32

import "github.com/lstmq/lstmq/internal/cpu"

// lanes returns the float32 lanes of a vector at level lv (8 or 16).
func lanes(lv cpu.Level) int {
	if lv >= cpu.AVX512 {
		return 16
	}
	return 8
}

// lstmCellRow runs the LSTM pointwise update on one row (len(g) = 4h); a
// ragged end goes through the same kernel on zero-padded copies.
func lstmCellRow(lv cpu.Level, g, c, hOut []float32, h int) {
	body := h &^ (lanes(lv) - 1)
	if body > 0 {
		lstmCellN(lv, &g[0], h, &c[0], &hOut[0], body)
	}
	if body == h {
		return
	}
	var tg [4 * 16]float32
	var tc, th [16]float32
	for q := range 4 {
		copy(tg[q*16:], g[q*h+body:q*h+h])
	}
	copy(tc[:], c[body:h])
	lstmCellN(lv, &tg[0], 16, &tc[0], &th[0], lanes(lv))
	copy(c[body:h], tc[:])
	copy(hOut[body:h], th[:])
}

func lstmCellN(lv cpu.Level, g *float32, h int, c, hOut *float32, n int) {
	if lv >= cpu.AVX512 {
		lstmCell512(g, h, c, hOut, n)
	} else {
		lstmCell256(g, h, c, hOut, n)
	}
}

// gruCellRow runs the GRU pointwise update on one row (len(pre) =
// len(g) = 3h); a ragged end goes through the same kernel on zero-padded
// copies.
func gruCellRow(lv cpu.Level, pre, g, hOut []float32, h int) {
	body := h &^ (lanes(lv) - 1)
	if body > 0 {
		if lv >= cpu.AVX512 {
			gruCell512(&pre[0], &g[0], h, &hOut[0], body)
		} else {
			gruCell256(&pre[0], &g[0], h, &hOut[0], body)
		}
	}
	if body == h {
		return
	}
	var tp, tg [3 * 16]float32
	var th [16]float32
	for q := range 3 {
		copy(tp[q*16:], pre[q*h+body:q*h+h])
		copy(tg[q*16:], g[q*h+body:q*h+h])
	}
	copy(th[:], hOut[body:h])
	if lv >= cpu.AVX512 {
		gruCell512(&tp[0], &tg[0], 16, &th[0], 16)
	} else {
		gruCell256(&tp[0], &tg[0], 16, &th[0], 8)
	}
	copy(hOut[body:h], th[:])
}

// reluVec sets dst[i] = max(x[i], 0); a ragged end goes through the
// kernel on a zero-padded copy.
func reluVec(lv cpu.Level, dst, x []float32) {
	body := len(x) &^ (lanes(lv) - 1)
	if body > 0 {
		reluN(lv, &dst[0], &x[0], body)
	}
	if body == len(x) {
		return
	}
	var t [16]float32
	copy(t[:], x[body:])
	reluN(lv, &t[0], &t[0], lanes(lv))
	copy(dst[body:], t[:len(x)-body])
}

func reluN(lv cpu.Level, dst, x *float32, n int) {
	if lv >= cpu.AVX512 {
		relu512(dst, x, n)
	} else {
		relu256(dst, x, n)
	}
}

// expVec sets dst[i] = exp(x[i]) with the vectorized exp.
func expVec(lv cpu.Level, dst, x []float32) {
	dst = dst[:len(x)]
	body := len(x) &^ (lanes(lv) - 1)
	if body > 0 {
		if lv >= cpu.AVX512 {
			exp512(&dst[0], &x[0], body)
		} else {
			exp256(&dst[0], &x[0], body)
		}
	}
	if body == len(x) {
		return
	}
	var t [16]float32
	copy(t[:], x[body:])
	if lv >= cpu.AVX512 {
		exp512(&t[0], &t[0], 16)
	} else {
		exp256(&t[0], &t[0], 8)
	}
	copy(dst[body:], t[:])
}

// maxVec returns max x[i], len(x) > 0.
func maxVec(lv cpu.Level, x []float32) float32 {
	body := len(x) &^ (lanes(lv) - 1)
	mx := x[0]
	if body > 0 {
		if lv >= cpu.AVX512 {
			mx = max512(&x[0], body)
		} else {
			mx = max256(&x[0], body)
		}
	}
	for _, v := range x[body:] {
		mx = max(mx, v)
	}
	return mx
}

// sumExpVec returns Σ exp(x[i] − sub), summed in float64.
func sumExpVec(lv cpu.Level, x []float32, sub float32) float64 {
	body := len(x) &^ (lanes(lv) - 1)
	var s float64
	if body > 0 {
		if lv >= cpu.AVX512 {
			s = sumExp512(&x[0], body, sub)
		} else {
			s = sumExp256(&x[0], body, sub)
		}
	}
	return sumExpTail(lv, x[body:], sub, s)
}

// sumExpTail returns s + Σ exp(x[i]−sub), the terms added in order, for
// the fewer than lanes(lv) elements after a kernel's body.
func sumExpTail(lv cpu.Level, x []float32, sub float32, s float64) float64 {
	if len(x) == 0 {
		return s
	}
	var t [16]float32
	for i, v := range x {
		t[i] = v - sub
	}
	expVec(lv, t[:len(x)], t[:len(x)])
	for _, e := range t[:len(x)] {
		s += float64(e)
	}
	return s
}

// expScaleVec sets dst[i] = exp(x[i]·inv − sub) and returns Σ dst[i] in float64.
func expScaleVec(lv cpu.Level, dst, x []float32, inv, sub float32) float64 {
	body := len(x) &^ (lanes(lv) - 1)
	var s float64
	if body > 0 {
		if lv >= cpu.AVX512 {
			s = expScale512(&dst[0], &x[0], body, inv, sub)
		} else {
			s = expScale256(&dst[0], &x[0], body, inv, sub)
		}
	}
	if body < len(x) {
		var t [16]float32
		for i, v := range x[body:] {
			t[i] = v*inv - sub
		}
		n := len(x) - body
		expVec(lv, t[:n], t[:n])
		for i, e := range t[:n] {
			dst[body+i] = e
			s += float64(e)
		}
	}
	return s
}

// scaleVec sets x[i] *= r.
func scaleVec(lv cpu.Level, x []float32, r float32) {
	body := len(x) &^ (lanes(lv) - 1)
	if body > 0 {
		if lv >= cpu.AVX512 {
			scale512(&x[0], body, r)
		} else {
			scale256(&x[0], body, r)
		}
	}
	for i := range x[body:] {
		x[body+i] *= r
	}
}
