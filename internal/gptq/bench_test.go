package gptq

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// The tutorial model's matrices: the decoder (33278 words × 256) and an
// LSTM layer's (4·256 gates × 512 inputs).
var benchShapes = []struct{ rows, cols, group int }{
	{33278, 256, 32},
	{1024, 512, 32},
}

func benchHessian(b *testing.B, rng *rand.Rand, cols int) *Hessian {
	const n = 512
	h, err := NewHessian(cols)
	if err != nil {
		b.Fatal(err)
	}
	if err := h.Add(arInputs(rng, n, cols, 0.9), n); err != nil {
		b.Fatal(err)
	}
	return h
}

func BenchmarkQuantize(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(fmt.Sprintf("shape=%dx%d/group=%d", s.rows, s.cols, s.group), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(7, 8))
			h := benchHessian(b, rng, s.cols)
			w0 := randWeights(rng, s.rows*s.cols)
			w := slices.Clone(w0)
			g := newSymGrid(s.rows, s.cols, s.group)
			b.SetBytes(int64(4 * len(w)))
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				copy(w, w0)
				b.StartTimer()
				if err := Quantize(w, s.rows, s.cols, h, s.group, g); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRoundToNearest(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(fmt.Sprintf("shape=%dx%d/group=%d", s.rows, s.cols, s.group), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(7, 8))
			w0 := randWeights(rng, s.rows*s.cols)
			w := slices.Clone(w0)
			g := newSymGrid(s.rows, s.cols, s.group)
			b.SetBytes(int64(4 * len(w)))
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				copy(w, w0)
				b.StartTimer()
				if err := RoundToNearest(w, s.rows, s.cols, s.group, g); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOutputError(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(fmt.Sprintf("shape=%dx%d", s.rows, s.cols), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(7, 8))
			h := benchHessian(b, rng, s.cols)
			w := randWeights(rng, s.rows*s.cols)
			wq := randWeights(rng, s.rows*s.cols)
			b.SetBytes(int64(4 * len(w)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := OutputError(w, wq, s.rows, s.cols, h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHessianAdd adds 512 samples a call.
func BenchmarkHessianAdd(b *testing.B) {
	for _, cols := range []int{256, 512} {
		b.Run(fmt.Sprintf("cols=%d", cols), func(b *testing.B) {
			const n = 512
			x := arInputs(rand.New(rand.NewPCG(7, 8)), n, cols, 0.9)
			h, _ := NewHessian(cols)
			b.SetBytes(int64(4 * len(x)))
			b.ReportAllocs()
			for b.Loop() {
				if err := h.Add(x, n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
