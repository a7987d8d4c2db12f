package q8

import "math"

// mulGeneric is the reference of MulU8 for output columns [j0, j1):
//
//	acc[i*n+j] = Σ_p a[i*k+p]·W[j,p]
func (p *Packed) mulGeneric(acc []int32, a []uint8, m, j0, j1 int) {
	n, k := p.n, p.k
	for i := range m {
		ar := a[i*k : (i+1)*k]
		out := acc[i*n : (i+1)*n]
		for j := j0; j < j1; j++ {
			out[j] = p.dot(j, ar)
		}
	}
}

// dot returns Σ_p a[p]·W[j,p] (len(a) = k), reading row j of W from the
// packed layout, where W[j,p] is b[(j/16)·kq·64 + (p/4)·64 + 4·(j%16) + p%4].
// The int32 sum wraps, so its order does not matter.
func (p *Packed) dot(j int, a []uint8) int32 {
	if len(a) == 0 {
		return 0
	}
	b := p.b[(j/16)*p.kq*64+4*(j%16):]
	var s int32
	k4 := len(a) &^ 3
	for q := 0; q < k4; q += 4 {
		w := b[16*q : 16*q+4 : 16*q+4] // quad q/4 at byte 64·(q/4)
		x := a[q : q+4 : q+4]
		s += int32(x[0])*int32(w[0]) + int32(x[1])*int32(w[1]) + int32(x[2])*int32(w[2]) + int32(x[3])*int32(w[3])
	}
	for q := k4; q < len(a); q++ {
		s += int32(a[q]) * int32(b[16*k4+q%4])
	}
	return s
}

// floatGeneric is the reference for the float outputs: columns [j0, j1)
// of every row, 64 sums at a time through t.rowEpilogue.
func (t *product) floatGeneric(j0, j1 int) {
	var acc [64]int32
	p := t.p
	n, k := p.n, p.k
	for i := range t.m {
		ar := t.a[i*k : (i+1)*k]
		for c0 := j0; c0 < j1; c0 += len(acc) {
			c1 := min(c0+len(acc), j1)
			s := acc[:c1-c0]
			for j := c0; j < c1; j++ {
				s[j-c0] = p.dot(j, ar)
			}
			t.rowEpilogue(t.dst[i*n+c0:i*n+c1], s, c0, c1)
		}
	}
}

// oneDNNRow writes d[j] = (float32(acc[j] − za·rs[j]) + bq[j])·osc[j], each
// operation rounded separately as oneDNN's post-processing does (bq nil: no
// add).
func oneDNNRow(d []float32, acc, rs []int32, osc, bq []float32, za int32) {
	for j, x := range acc {
		v := float32(x - za*rs[j])
		if bq != nil {
			v = float32(v + bq[j])
		}
		d[j] = float32(v * osc[j])
	}
}

// dequantRow writes d[j] = float32(acc[j] − za·rs[j])·(sa·sc[j]) + bias[j],
// each operation rounded separately as in FBGEMM (the explicit conversions
// keep the compiler from fusing the multiply and the add).
func dequantRow(d []float32, acc, rs []int32, sc []float32, bias []float32, sa float32, za int32) {
	for j, x := range acc {
		v := float32(float32(x-za*rs[j]) * (sa * sc[j]))
		if bias != nil {
			v += bias[j]
		}
		d[j] = v
	}
}

// quantizeGeneric is the reference of QuantizeU8.
func quantizeGeneric(dst []uint8, x []float32, invScale float32, zp, qmax int32) {
	zf := float32(zp)
	for i, v := range x {
		t := fma32(v, invScale, zf)
		if !(t < 2147483520) { // also a NaN, as _mm256_min_ps(t, c) returns c
			t = 2147483520
		}
		r := int64(math.MinInt32) // CVTPS2DQ's answer below −2^31
		if t >= -2147483648 {
			r = int64(math.RoundToEven(float64(t)))
		}
		dst[i] = uint8(min(max(r, 0), int64(qmax)))
	}
}

// fma32 returns x·y+z rounded once to float32, as VFMADD231PS does, for
// results in float32's normal range (smaller ones only matter here through
// their rounding to an integer, which they do not change). x·y is exact in
// float64; the float64 sum is rounded again to float32, which is wrong only
// when the sum was inexact and lands exactly halfway between two float32s:
// then the rounding error (TwoSum) says which way to go.
func fma32(x, y, z float32) float32 {
	p := float64(x) * float64(y)
	zz := float64(z)
	s := p + zz
	if math.IsInf(s, 0) || math.IsNaN(s) {
		return float32(s)
	}
	bb := s - p
	e := (p - (s - bb)) + (zz - bb)
	if e == 0 {
		return float32(s)
	}
	b := math.Float64bits(s)
	if b&(1<<29-1) == 1<<28 {
		if (e > 0) == (s > 0) {
			b++
		} else {
			b--
		}
		s = math.Float64frombits(b)
	}
	return float32(s)
}

// minMaxGeneric is the reference of MinMax (len(x) > 0).
func minMaxGeneric(x []float32) (lo, hi float32) {
	lo, hi = x[0], x[0]
	for _, v := range x[1:] {
		lo, hi = min2(lo, v), max2(hi, v)
	}
	return lo, hi
}

func min2(a, b float32) float32 {
	if b < a {
		return b
	}
	return a
}

func max2(a, b float32) float32 {
	if b > a {
		return b
	}
	return a
}
