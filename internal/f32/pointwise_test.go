package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lstmq/lstmq/internal/cpu"
)

const u32 = 1.0 / (1 << 24) // float32 unit roundoff

// The SIMD exp is within 2 ulp (TestExp); σ adds an add and a divide and
// tanh = 1 − 2/(1+e²ˣ) an add, a divide and a subtraction, each rounding by
// at most u, so σ has a relative error below ~5u and tanh an absolute error
// below ~5u (values in [−1, 1]). Then c' = f·c + i·g is off by at most
// (|c|+2)·5u + 2u and h' = o·tanh(c') (|tanh'| ≤ 1) by about (|c|+4)·5u.
// The generic reference rounds float64 results (½u). We allow 8u·(|c|+4).
func lstmTol(c float32) float64 { return 8 * u32 * (math.Abs(float64(c)) + 4) }

func TestLSTMCell(t *testing.T) {
	forEachLevel(t, func(t *testing.T, lv cpu.Level) {
		r := rand.New(rand.NewPCG(11, 12))
		hs := []int{256, 650}
		for h := 0; h <= 70; h++ {
			hs = append(hs, h)
		}
		for _, h := range hs {
			b := 1 + h%3
			hStride := h + 5
			gates := make([]float32, b*4*h)
			for i := range gates {
				gates[i] = float32(3 * r.NormFloat64())
			}
			c0 := randSlice(r, b*h)
			off := h % 16
			c, checkC := guarded(t, b*h, off, c0)
			hOut, checkH := guarded(t, (b-1)*hStride+h, (off+5)%16, nil)
			LSTMCell(gates, c, hOut, b, h, hStride)
			checkC()
			checkH()
			wantC := append([]float32(nil), c0...)
			wantH := make([]float32, len(hOut))
			lstmCellGeneric(gates, wantC, wantH, b, h, hStride)
			for rr := range b {
				for j := range h {
					i := rr*h + j
					if d := math.Abs(float64(c[i] - wantC[i])); !(d <= lstmTol(wantC[i])) {
						t.Fatalf("b=%d h=%d: c[%d] = %v, want %v", b, h, i, c[i], wantC[i])
					}
					o := rr*hStride + j
					if d := math.Abs(float64(hOut[o] - wantH[o])); !(d <= lstmTol(wantC[i])) {
						t.Fatalf("b=%d h=%d: hOut[%d] = %v, want %v", b, h, o, hOut[o], wantH[o])
					}
				}
				// Columns h..hStride of a row are not h': they must stay untouched.
				for j := h; rr < b-1 && j < hStride; j++ {
					if v := hOut[rr*hStride+j]; math.Float32bits(v) != math.Float32bits(sentinel) {
						t.Fatalf("b=%d h=%d: hOut[%d] written between rows", b, h, rr*hStride+j)
					}
				}
			}
		}
	})
}

// TestLSTMCellValues pins the cell to hand-computed values: with all
// pre-activations 0, i = f = o = ½ and g = 0, so c' = c/2 and
// h' = tanh(c/2)/2.
func TestLSTMCellValues(t *testing.T) {
	forEachLevel(t, func(t *testing.T, lv cpu.Level) {
		const h = 19
		c := make([]float32, h)
		for j := range c {
			c[j] = float32(j) - 9
		}
		hOut := make([]float32, h)
		LSTMCell(make([]float32, 4*h), c, hOut, 1, h, h)
		for j := range h {
			cj := (float64(j) - 9) / 2
			if math.Abs(float64(c[j])-cj) > 1e-6 || math.Abs(float64(hOut[j])-math.Tanh(cj)/2) > 1e-6 {
				t.Fatalf("j=%d: c' = %v, h' = %v; want %v, %v", j, c[j], hOut[j], cj, math.Tanh(cj)/2)
			}
		}
	})
}

func lseSizes() []int {
	s := []int{1000, 33278}
	for n := 1; n <= 300; n++ {
		s = append(s, n)
	}
	return s
}

// The SIMD sum adds terms each within 2u of exp(x−max) (TestExp), in float64,
// so Σ is within 2u·Σ relative and log Σ within 2u absolute; both results
// then round max + log Σ to float32 (½ ulp each). We allow 3u + 2⁻²³·|lse|.
func TestLogSumExp(t *testing.T) {
	if got := LogSumExp(nil); !math.IsInf(float64(got), -1) {
		t.Fatalf("LogSumExp(nil) = %v, want -Inf", got)
	}
	if got := LogSumExp([]float32{0, 0, 0, 0}); math.Abs(float64(got)-math.Log(4)) > 1e-6 {
		t.Fatalf("LogSumExp(0,0,0,0) = %v, want log 4", got)
	}
	forEachLevel(t, func(t *testing.T, lv cpu.Level) {
		r := rand.New(rand.NewPCG(13, 14))
		for _, n := range lseSizes() {
			off := n % 16
			x := randSlice(r, n+off)[off:]
			for i := range x {
				x[i] *= 5
			}
			got, want := LogSumExp(x), logSumExpGeneric(x)
			if d := math.Abs(float64(got - want)); d > 3*u32+math.Abs(float64(want))/(1<<23) {
				t.Fatalf("n=%d: LogSumExp = %v, want %v", n, got, want)
			}
		}
	})
}

// Each output is e_i·(1/Σ): e_i within 2u (TestExp), Σ within 2u, the
// reciprocal and the product within u each, so within ~6u relative; the
// clamp of exp below e^-87.3 adds at most 1.2e-38/Σ absolute. We allow
// 8u relative plus 2e-38.
func TestSoftmax(t *testing.T) {
	forEachLevel(t, func(t *testing.T, lv cpu.Level) {
		r := rand.New(rand.NewPCG(15, 16))
		for _, n := range lseSizes() {
			for _, temp := range []float32{0.5, 1, 2} {
				off := n % 16
				x := randSlice(r, n+off)[off:]
				for i := range x {
					x[i] *= 5
				}
				dst, check := guarded(t, n, (off+3)%16, nil)
				Softmax(dst, x, temp)
				check()
				want := make([]float32, n)
				softmaxGeneric(want, x, temp)
				var sum float64
				for i := range want {
					sum += float64(dst[i])
					if d := math.Abs(float64(dst[i] - want[i])); !(d <= 8*u32*float64(want[i])+2e-38) {
						t.Fatalf("n=%d t=%v: dst[%d] = %v, want %v", n, temp, i, dst[i], want[i])
					}
				}
				if math.Abs(sum-1) > 1e-5 {
					t.Fatalf("n=%d t=%v: Σ softmax = %v", n, temp, sum)
				}
			}
		}
	})
}

// Scale's products are single roundings, so every level equals the scalar
// loop bit for bit, on odd lengths and unaligned starts.
func TestScale(t *testing.T) {
	forEachLevel(t, func(t *testing.T, lv cpu.Level) {
		r := rand.New(rand.NewPCG(19, 20))
		for _, n := range []int{0, 1, 7, 15, 16, 17, 33, 100, 33278} {
			off := (n + 5) % 16
			x := randSlice(r, n)
			a := float32(r.NormFloat64())
			dst, check := guarded(t, n, off, x)
			Scale(dst, a)
			check()
			for i, v := range x {
				if want := v * a; math.Float32bits(dst[i]) != math.Float32bits(want) {
					t.Fatalf("n=%d: x[%d]·%v = %v, want %v", n, i, a, dst[i], want)
				}
			}
		}
	})
}

// ExpSum is Softmax's exp pass: each e_i within TestSoftmax's bound of
// the exact exp (plus the rounding of its argument), its sum the float64 sum of the e_i (the SIMD paths add
// lanes of float32 terms in float64, the reference adds the float64 terms:
// within 2u of the sum either way), the same on unaligned starts. Max is
// exact.
func TestExpSumMax(t *testing.T) {
	forEachLevel(t, func(t *testing.T, lv cpu.Level) {
		r := rand.New(rand.NewPCG(21, 22))
		for _, n := range []int{1, 5, 16, 17, 255, 256, 1000} {
			off := n % 7
			x := randSlice(r, n+off)[off:]
			want := x[0] * 3
			for _, v := range x {
				want = max(want, v*3)
			}
			for i := range x {
				x[i] *= 3
			}
			if got := Max(x); got != want {
				t.Fatalf("n=%d: Max = %v, want %v", n, got, want)
			}
			inv := float32(0.8)
			sub := want * inv
			dst, check := guarded(t, n, (off+5)%16, nil)
			sum := ExpSum(dst, x, inv, sub)
			check()
			var s float64
			for i, v := range x {
				arg := float64(v)*float64(inv) - float64(sub)
				e := math.Exp(arg)
				// The argument is rounded once (fused, as arm64 does) or
				// twice: up to 2u·|arg| relative after exp.
				if d := math.Abs(float64(dst[i]) - e); !(d <= (4+2*math.Abs(arg))*u32*e+2e-38) {
					t.Fatalf("n=%d: dst[%d] = %v, want %v", n, i, dst[i], e)
				}
				s += float64(dst[i])
			}
			if math.Abs(sum-s) > 2*u32*s {
				t.Fatalf("n=%d: ExpSum = %v, Σ dst = %v", n, sum, s)
			}
		}
	})
}

func TestPointwiseAllocs(t *testing.T) {
	forEachLevel(t, func(t *testing.T, lv cpu.Level) {
		r := rand.New(rand.NewPCG(17, 18))
		const h = 650
		gates, c, hOut := randSlice(r, 4*h), randSlice(r, h), make([]float32, h)
		x, dst := randSlice(r, 33278), make([]float32, 33278)
		if got := testing.AllocsPerRun(10, func() {
			LSTMCell(gates, c, hOut, 1, h, h)
			LogSumExp(x)
			Softmax(dst, x, 1)
		}); got != 0 {
			t.Errorf("%v allocations per LSTMCell+LogSumExp+Softmax, want 0", got)
		}
	})
}

func TestPeakGFLOPS(t *testing.T) {
	g, p := ClockGHz(), PeakGFLOPS()
	if !(g > 0.3 && g < 10) || !(p >= 4*g) {
		t.Fatalf("ClockGHz = %v, PeakGFLOPS = %v", g, p)
	}
	t.Logf("clock %.2f GHz (/proc/cpuinfo: %.2f), peak %.0f GFLOP/s at %v", g, cpuinfoGHz(), p, impl)
}

func BenchmarkLSTMCell(b *testing.B) {
	defer func(old cpu.Level) { impl = old }(impl)
	r := rand.New(rand.NewPCG(19, 20))
	for _, lv := range levels() {
		impl = lv
		for _, h := range []int{256, 650} {
			gates, c, hOut := randSlice(r, 4*h), randSlice(r, h), make([]float32, h)
			b.Run(fmt.Sprintf("cpu=%v/shape=b1h%d", lv, h), func(b *testing.B) {
				b.SetBytes(int64(4 * 6 * h))
				b.ReportAllocs()
				for b.Loop() {
					LSTMCell(gates, c, hOut, 1, h, h)
					copy(c, gates[:h]) // keep c bounded
				}
			})
		}
	}
}

func BenchmarkLogSumExp(b *testing.B) {
	defer func(old cpu.Level) { impl = old }(impl)
	r := rand.New(rand.NewPCG(21, 22))
	x, dst := randSlice(r, 33278), make([]float32, 33278)
	for _, lv := range levels() {
		impl = lv
		b.Run(fmt.Sprintf("cpu=%v/shape=n33278", lv), func(b *testing.B) {
			b.SetBytes(int64(4 * len(x)))
			b.ReportAllocs()
			for b.Loop() {
				LogSumExp(x)
			}
		})
		b.Run(fmt.Sprintf("cpu=%v/softmax/shape=n33278", lv), func(b *testing.B) {
			b.SetBytes(int64(8 * len(x)))
			b.ReportAllocs()
			for b.Loop() {
				Softmax(dst, x, 1)
			}
		})
	}
}
