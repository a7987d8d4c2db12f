//go:build !purego

package f32

import (
	"math"
	"testing"

	"github.com/lstmq/lstmq/internal/cpu"
)

// ulps returns the distance between a and b in units in the last place
// (both finite and of the same sign).
func ulps(a, b float32) int64 {
	d := int64(math.Float32bits(a)) - int64(math.Float32bits(b))
	return max(d, -d)
}

// TestExp measures the SIMD exp against math.Exp rounded to float32 over
// [-87.3, 88] and pins the documented clamps.
func TestExp(t *testing.T) {
	forEachLevel(t, func(t *testing.T, lv cpu.Level) {
		if lv == cpu.Generic {
			return
		}
		const n = 1 << 20
		x := make([]float32, n+3) // a ragged tail too
		for i := range x {
			x[i] = -87.3 + float32(i)*(88+87.3)/float32(len(x)-1)
		}
		x = append(x, 0, 1, -1, 1e-8, -1e-8, 0.5, -0.5, 88, -87.3)
		got := make([]float32, len(x))
		expVec(lv, got, x)
		var worst int64
		var at float32
		for i, v := range x {
			if d := ulps(got[i], float32(math.Exp(float64(v)))); d > worst {
				worst, at = d, v
			}
		}
		t.Logf("max error %d ulp (at x = %v)", worst, at)
		if worst > 2 {
			t.Fatalf("exp is off by %d ulp at x = %v", worst, at)
		}
		// Clamps: e⁸⁸ above 88, e^-87.3365 ≈ 2⁻¹²⁶ below -87.3365.
		clamp := []float32{100, 1e30, float32(math.Inf(1)), -100, -1e30, float32(math.Inf(-1))}
		got = make([]float32, len(clamp))
		expVec(lv, got, clamp)
		for i, v := range clamp {
			want := float32(math.Exp(88))
			if v < 0 {
				want = float32(math.Exp(float64(float32(-87.33654475))))
			}
			if ulps(got[i], want) > 2 {
				t.Fatalf("exp(%v) = %v, want %v", v, got[i], want)
			}
		}
	})
}

// TestMax checks the SIMD max directly (LogSumExp and Softmax would hide a
// wrong max: they are invariant to the shift), with the maximum at every
// position of every size up to 70.
func TestMax(t *testing.T) {
	forEachLevel(t, func(t *testing.T, lv cpu.Level) {
		if lv == cpu.Generic {
			return
		}
		for n := 1; n <= 70; n++ {
			x := make([]float32, n)
			for at := range n {
				for i := range x {
					x[i] = -float32(i%7) - 1
				}
				x[at] = 0.5
				if got := maxVec(lv, x); got != 0.5 {
					t.Fatalf("n=%d, max at %d: maxVec = %v, want 0.5", n, at, got)
				}
			}
		}
	})
}
