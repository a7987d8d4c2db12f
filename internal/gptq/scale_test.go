package gptq

import (
	"math"
	"math/rand/v2"
	"testing"
)

// weightedError is the test's own E(s) = Σ imp·(w − s·clamp(round(w/s)))².
func weightedError(w, imp []float32, s float32, qmin, qmax int) float64 {
	var e float64
	for i, v := range w {
		q := math.RoundToEven(float64(v) / float64(s))
		q = math.Max(float64(qmin), math.Min(float64(qmax), q))
		d := float64(v) - float64(s)*q
		wt := 1.0
		if imp != nil {
			wt = float64(imp[i])
		}
		e += wt * d * d
	}
	return e
}

func TestFitScaleExact(t *testing.T) {
	// Only 0.3 matters: max-based s = 1/7 puts it at 2/7 (error
	// (0.3 − 2/7)² ≈ 2.04e-4); the least-squares scale 0.3·2/2² = 0.15 of
	// those rounded values puts it exactly on 2·0.15.
	w, imp := []float32{1, 0.3}, []float32{0, 1}
	s0 := float32(1) / 7
	if e := weightedError(w, imp, s0, -8, 7); e < 2.0e-4 || e > 2.1e-4 {
		t.Fatalf("E(1/7) = %v", e)
	}
	if s := FitScale(w, imp, -8, 7); s != 0.15 || weightedError(w, imp, s, -8, 7) != 0 {
		t.Errorf("FitScale = %v, E = %v; want 0.15, 0", s, weightedError(w, imp, s, -8, 7))
	}
	// −8 is on the grid: s = 8/8 = 1 represents these exactly, s = 8/7 does not.
	w = []float32{-8, 4, 2, 1}
	if s := FitScale(w, nil, -8, 7); s != 1 || weightedError(w, nil, s, -8, 7) != 0 {
		t.Errorf("FitScale = %v, E = %v; want 1, 0", s, weightedError(w, nil, s, -8, 7))
	}
	if s := FitScale(make([]float32, 32), nil, -8, 7); s != 0 {
		t.Errorf("FitScale(zeros) = %v", s)
	}
}

// TestFitScaleNeverWorse: on random blocks of 32 with random importances,
// FitScale's weighted error is never above the max-based scale's, and
// usually below.
func TestFitScaleNeverWorse(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	w, imp := make([]float32, 32), make([]float32, 32)
	better := 0
	const blocks = 2000
	var sum0, sum float64
	for b := range blocks {
		qmin, qmax := -8, 7
		if b%2 == 1 {
			qmin, qmax = -127, 127
		}
		for i := range w {
			w[i] = float32(rng.NormFloat64())
			if rng.IntN(16) == 0 {
				w[i] *= 5
			}
			imp[i] = float32(rng.ExpFloat64())
		}
		var amax float32
		for _, v := range w {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		s0 := amax / float32(qmax)
		e0 := weightedError(w, imp, s0, qmin, qmax)
		e := weightedError(w, imp, FitScale(w, imp, qmin, qmax), qmin, qmax)
		if e > e0 {
			t.Fatalf("block %d: E = %v above E(max/qmax) = %v", b, e, e0)
		}
		if e < e0 {
			better++
		}
		sum0 += e0
		sum += e
	}
	t.Logf("better on %d of %d blocks; total weighted error %.4g against %.4g", better, blocks, sum, sum0)
	if better < blocks/2 {
		t.Errorf("better on only %d of %d blocks", better, blocks)
	}
}

func TestFitScalePanics(t *testing.T) {
	for _, c := range []struct {
		w, imp     []float32
		qmin, qmax int
	}{
		{[]float32{1, 2}, []float32{1}, -8, 7},
		{[]float32{1, 2}, []float32{}, -8, 7},
		{[]float32{1, 2}, nil, 0, 7},
		{[]float32{1, 2}, nil, -8, 0},
	} {
		func() {
			defer func() {
				if r := recover(); r == nil {
					t.Errorf("FitScale(%d weights, %d importances, %d, %d) did not panic", len(c.w), len(c.imp), c.qmin, c.qmax)
				}
			}()
			FitScale(c.w, c.imp, c.qmin, c.qmax)
		}()
	}
}
