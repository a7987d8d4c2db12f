//go:build !purego

package f32

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lstmq/lstmq/internal/cpu"
)

// TestCephesExp compares the reference exp with the AVX2 kernel element by
// element, bit for bit, over the clamp edges, the rounding ties of n and
// random inputs.
func TestCephesExp(t *testing.T) {
	if !portableSIMD() {
		t.Skip("no AVX2 kernels on this path")
	}
	r := rand.New(rand.NewPCG(23, 24))
	x := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 88, 88.5, 89, 1e30, float32(math.Inf(1)), float32(math.Inf(-1)),
		-87.33654475, -87.3, -87.4, -100, -1e30, 0.5 / 1.44269504088896341, 1.5 / 1.44269504088896341, -2.5 / 1.44269504088896341}
	for range 20000 {
		x = append(x, float32(r.NormFloat64()*30), math.Float32frombits(r.Uint32()&^(1<<31)|0x3f800000)-1-float32(r.IntN(90)))
	}
	got := make([]float32, len(x))
	expVec(cpu.AVX2, got, x)
	for i, v := range x {
		if want := cephesExp(v); math.Float32bits(got[i]) != math.Float32bits(want) {
			t.Fatalf("exp(%v): kernel %v, reference %v", v, got[i], want)
		}
	}
}

// TestSumExpPortable512 wants sumExp256's sum to the bit from the AVX-512
// kernel, for every multiple of 8 up to 512 and a vocabulary's length, on
// unaligned starts, with terms that clamp and terms that overflow float32.
func TestSumExpPortable512(t *testing.T) {
	if !cpu.Has(cpu.AVX512) {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(29, 30))
	for _, n := range append(func() (ns []int) {
		for n := 8; n <= 512; n += 8 {
			ns = append(ns, n)
		}
		return
	}(), 33272) {
		off := n % 5
		x := make([]float32, n+off)[off:]
		for i := range x {
			x[i] = float32(r.NormFloat64() * 20)
		}
		x[r.IntN(n)] = 200
		sub := x[r.IntN(n)]
		got, want := sumExpPortable512(&x[0], n, sub), sumExp256(&x[0], n, sub)
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("n=%d: %v (%#x), sumExp256 %v (%#x)", n, got, math.Float64bits(got), want, math.Float64bits(want))
		}
	}
}
