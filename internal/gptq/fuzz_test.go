package gptq

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// FuzzQuantize runs Quantize on small random layers of fuzzed shape and
// settings: it must not panic, and when it succeeds every weight must be a
// finite value of the grid.
func FuzzQuantize(f *testing.F) {
	f.Add(uint8(3), uint8(10), uint8(4), uint8(3), uint8(12), false, uint64(1))
	f.Add(uint8(1), uint8(1), uint8(1), uint8(1), uint8(1), true, uint64(2))
	f.Add(uint8(40), uint8(33), uint8(32), uint8(128), uint8(2), true, uint64(3))
	f.Add(uint8(5), uint8(17), uint8(0), uint8(0), uint8(0), false, uint64(4))
	f.Fuzz(func(t *testing.T, rows, cols, group, block, n uint8, act bool, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, 5))
		r, c, m := int(rows%48), int(cols%48), int(n)
		h, err := NewHessian(max(c, 1))
		if err != nil {
			t.Fatal(err)
		}
		x := arInputs(rng, m, max(c, 1), rng.Float64())
		for i := range x {
			if rng.IntN(5) == 0 {
				x[i] = 0
			}
		}
		if err := h.Add(x, m); err != nil {
			t.Fatal(err)
		}
		w := randWeights(rng, r*c)
		err = Quantize(w, r, c, h, int(group), &contractGrid{t: t, rows: r, cols: c, group: max(1, min(int(group), c)),
			static: act, cur: slices.Repeat([]int{-1}, r), fitted: make([]bool, r*c), rounded: make([]bool, r*c)},
			WithBlock(int(block)), WithActOrder(act), WithDamp(float64(seed%3)/50))
		if err != nil {
			return
		}
		for i, v := range w {
			if math.IsNaN(float64(v)) || v != float32(math.RoundToEven(float64(v)*16)/16) {
				t.Fatalf("w[%d] = %v is not on the grid", i, v)
			}
		}
	})
}
