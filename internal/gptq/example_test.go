package gptq_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/lstmq/lstmq/internal/gptq"
)

// q4Grid is a Q4_0-like grid: per row and block of 32 inputs one scale s,
// chosen by gptq.FitScale with the inputs' mean squares as importances,
// and values s·q for q in −8..7.
type q4Grid struct {
	imp   []float32 // per input
	scale []float32 // per row: the current block's scale
}

func (g *q4Grid) Fit(r, c0 int, w []float32) {
	g.scale[r] = gptq.FitScale(w, g.imp[c0:c0+len(w)], -8, 7)
}

func (g *q4Grid) Round(r, c int, v float32) float32 {
	s := g.scale[r]
	if s == 0 {
		return 0
	}
	return s * float32(max(-8, min(7, math.RoundToEven(float64(v/s)))))
}

func Example() {
	const rows, cols, n = 64, 128, 256
	rng := rand.New(rand.NewPCG(1, 2))

	// Calibration inputs with neighbouring features correlated.
	x := make([]float32, n*cols)
	for s := range n {
		v := rng.NormFloat64()
		for j := range cols {
			x[s*cols+j] = float32(v)
			v = 0.8*v + 0.6*rng.NormFloat64()
		}
	}
	h, err := gptq.NewHessian(cols)
	if err != nil {
		panic(err)
	}
	if err := h.Add(x, n); err != nil {
		panic(err)
	}
	imp := make([]float32, cols)
	for i, d := range h.Diag() {
		imp[i] = float32(d)
	}

	w := make([]float32, rows*cols)
	for i := range w {
		w[i] = float32(0.05 * rng.NormFloat64())
	}
	rtn, gq := slices.Clone(w), slices.Clone(w)
	if err := gptq.RoundToNearest(rtn, rows, cols, 32, &q4Grid{imp, make([]float32, rows)}); err != nil {
		panic(err)
	}
	if err := gptq.Quantize(gq, rows, cols, h, 32, &q4Grid{imp, make([]float32, rows)}); err != nil {
		panic(err)
	}
	eRTN, _ := gptq.OutputError(w, rtn, rows, cols, h)
	eGPTQ, _ := gptq.OutputError(w, gq, rows, cols, h)
	fmt.Println("GPTQ below half of round-to-nearest's output error:", eGPTQ < eRTN/2)
	// Output:
	// GPTQ below half of round-to-nearest's output error: true
}
