package gptq

import "math"

// FitScale chooses the scale s of a symmetric grid s·{qmin, …, qmax} for one
// block of weights w, weighting each weight's error by its importance
// (llama.cpp's importance matrix: the mean squared input of that column, or
// Hessian.Diag). It returns the candidate with the least
//
//	E(s) = Σ_i imp_i·(w_i − s·clamp(roundHalfEven(w_i/s), qmin, qmax))²,
//
// computed in float64 with s the float32 it returns. The candidates are, as
// in llama.cpp's make_qx_quants, amax/(n + k/10) for k = −9..9, with
// amax = max|w_i| and n = qmax (and n = −qmin too when qmin < −qmax), and for
// each the least-squares scale Σ imp·w·q / Σ imp·q² of its rounded values q.
// The first candidate is amax/qmax, so E(FitScale) ≤ E(amax/qmax).
//
// The weights must be finite. A nil importance weighs every weight 1;
// importances must be ≥ 0. FitScale
// returns 0 for a block of zeros. It panics unless qmin < 0 < qmax and
// importance is nil or as long as w.
func FitScale(w, importance []float32, qmin, qmax int) float32 {
	if qmin >= 0 || qmax <= 0 {
		panic("gptq: FitScale: needs qmin < 0 < qmax")
	}
	if importance != nil && len(importance) != len(w) {
		panic("gptq: FitScale: importance and weights differ in length")
	}
	var amax float32
	for _, v := range w {
		amax = max(amax, abs32(v))
	}
	if amax == 0 {
		return 0
	}
	best := amax / float32(qmax)
	bestErr := scaleError(w, importance, best, qmin, qmax)
	try := func(s float32) {
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return
		}
		if e := scaleError(w, importance, s, qmin, qmax); e < bestErr {
			best, bestErr = s, e
		}
	}
	ns := []int{qmax}
	if -qmin > qmax {
		ns = append(ns, -qmin)
	}
	for _, n := range ns {
		for k := -9; k <= 9; k++ {
			s := float32(float64(amax) / (float64(n) + float64(k)/10))
			try(s)
			try(leastSquaresScale(w, importance, s, qmin, qmax))
		}
	}
	return best
}

// scaleError returns E(s) of FitScale's doc comment.
func scaleError(w, imp []float32, s float32, qmin, qmax int) float64 {
	sf := float64(s)
	var e float64
	for i, v := range w {
		d := float64(v) - sf*roundClamp(float64(v)/sf, qmin, qmax)
		if imp != nil {
			e += float64(imp[i]) * d * d
		} else {
			e += d * d
		}
	}
	return e
}

// leastSquaresScale returns Σ imp·w·q / Σ imp·q² for q the values of w
// rounded on the grid of scale s: the scale that minimises the weighted
// error with those q held fixed. It is 0 when every q is 0.
func leastSquaresScale(w, imp []float32, s float32, qmin, qmax int) float32 {
	sf := float64(s)
	var num, den float64
	for i, v := range w {
		q := roundClamp(float64(v)/sf, qmin, qmax)
		wt := 1.0
		if imp != nil {
			wt = float64(imp[i])
		}
		num += wt * float64(v) * q
		den += wt * q * q
	}
	if den == 0 {
		return 0
	}
	return float32(num / den)
}

func roundClamp(t float64, qmin, qmax int) float64 {
	return max(float64(qmin), min(float64(qmax), math.RoundToEven(t)))
}

func abs32(v float32) float32 {
	return math.Float32frombits(math.Float32bits(v) &^ (1 << 31))
}
