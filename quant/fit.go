package quant

import "math"

// The grid searches of the low-bit formats, after llama.cpp's
// make_qx_quants and make_qkx2_quants: a few candidate inverse scales
// around the plain one, the codes each gives, then the scale (and minimum)
// that fit those codes best in the least-squares sense; the candidate with
// the smallest weighted error wins. imp weights each value's squared error
// (nil: all 1).

// fitSteps candidates on each side of the plain inverse scale, fitStep apart
// in code units.
const (
	fitSteps = 10
	fitStep  = 0.1
)

func weight(imp []float32, i int) float64 {
	if imp == nil {
		return 1
	}
	return float64(imp[i])
}

// fitSymmetric returns the scale d of a block of a symmetric format whose
// codes are q ∈ [−half, half−1] and values d·q: the value of largest
// magnitude maps to −half (its sign is d's), as GGML's Q4_0, then the
// least-squares d of the best candidate's codes.
func fitSymmetric(w, imp []float32, half int) float32 {
	var mx float32
	for _, v := range w {
		if abs32(v) > abs32(mx) {
			mx = v
		}
	}
	if mx == 0 {
		return 0
	}
	h := float64(half)
	best, bestErr := float64(mx)/-h, symError(w, imp, float64(mx)/-h, half)
	for is := -fitSteps; is <= fitSteps; is++ {
		inv := -(h + fitStep*float64(is)) / float64(mx)
		var swq, sqq float64
		for i, v := range w {
			q := math.Min(math.Max(math.RoundToEven(inv*float64(v)), -h), h-1)
			wi := weight(imp, i)
			swq += wi * float64(v) * q
			sqq += wi * q * q
		}
		if sqq == 0 {
			continue
		}
		d := swq / sqq
		if e := symError(w, imp, d, half); e < bestErr {
			best, bestErr = d, e
		}
	}
	return float32(best)
}

// symError is Σ imp·(d·q − w)² with q = clamp(round(w/d)).
func symError(w, imp []float32, d float64, half int) float64 {
	h := float64(half)
	var e float64
	for i, v := range w {
		q := math.Min(math.Max(math.RoundToEven(float64(v)/d), -h), h-1)
		r := d*q - float64(v)
		e += weight(imp, i) * r * r
	}
	return e
}

// fitAffine returns the scale d ≥ 0 and minimum m of a block of an affine
// format with codes u ∈ [0, levels] and values d·u + m; with nonPositive,
// m ≤ 0 (the _k formats store −m unsigned).
func fitAffine(w, imp []float32, levels int, nonPositive bool) (d, m float32) {
	lo, hi := minMax(w)
	if nonPositive {
		lo = min(lo, 0)
	}
	if hi <= lo {
		return 0, lo
	}
	n := float64(levels)
	bd, bm := float64(hi-lo)/n, float64(lo)
	bestErr := affineError(w, imp, bd, bm, levels)
	for is := -fitSteps; is <= fitSteps; is++ {
		inv := (n + fitStep*float64(is)) / float64(hi-lo)
		// Least squares for d·u + m ≈ w on this candidate's codes.
		var s1, su, suu, sw, suw float64
		for i, v := range w {
			u := math.Min(math.Max(math.RoundToEven(inv*float64(v-lo)), 0), n)
			wi := weight(imp, i)
			s1 += wi
			su += wi * u
			suu += wi * u * u
			sw += wi * float64(v)
			suw += wi * u * float64(v)
		}
		det := s1*suu - su*su
		if det <= 0 {
			continue
		}
		dd := (s1*suw - su*sw) / det
		mm := (suu*sw - su*suw) / det
		if nonPositive && mm > 0 {
			mm, dd = 0, suw/suu
		}
		if dd <= 0 {
			continue
		}
		if e := affineError(w, imp, dd, mm, levels); e < bestErr {
			bd, bm, bestErr = dd, mm, e
		}
	}
	return float32(bd), float32(bm)
}

// affineError is Σ imp·(d·u + m − w)² with u = clamp(round((w − m)/d)).
func affineError(w, imp []float32, d, m float64, levels int) float64 {
	var e float64
	for i, v := range w {
		u := math.Min(math.Max(math.RoundToEven((float64(v)-m)/d), 0), float64(levels))
		r := d*u + m - float64(v)
		e += weight(imp, i) * r * r
	}
	return e
}

func abs32(v float32) float32 { return float32(math.Abs(float64(v))) }
