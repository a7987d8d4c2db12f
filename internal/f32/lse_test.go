package f32

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lstmq/lstmq/internal/cpu/cputest"
)

// TestLogSumExpPortable checks that LogSumExpPortable gives the same bits
// on every kernel path (the pure-Go reference against the AVX2 kernels on
// amd64), on every length 0..300 and misaligned starts, and that it agrees
// with the float64 math.Exp reference within the vectorized exp's 2 ulp
// (each term's relative error is at most 2⁻²², so the log of the sum is
// within about 2.4e-7 absolute, a few ulp of the float32 result).
func TestLogSumExpPortable(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	type tc struct {
		x    []float32
		want float32
	}
	var cases []tc
	for n := 1; n <= 300; n++ {
		off := n % 7
		x := make([]float32, n+off)[off:]
		scale := float32(1 + n%40)
		for i := range x {
			x[i] = float32(r.NormFloat64()) * scale
		}
		if n%5 == 0 {
			x[n/2] = 120 // terms below e^−87.3 clamp
		}
		cases = append(cases, tc{x: x, want: LogSumExpPortable(x)})
	}
	if got := LogSumExpPortable(nil); !math.IsInf(float64(got), -1) {
		t.Errorf("LogSumExpPortable(nil) = %v, want −Inf", got)
	}
	cputest.Each(t, Kernels, func(t *testing.T) {
		for _, c := range cases {
			got := LogSumExpPortable(c.x)
			if math.Float32bits(got) != math.Float32bits(c.want) {
				t.Fatalf("n=%d: %v (%#x), another path gave %v (%#x)", len(c.x), got, math.Float32bits(got), c.want, math.Float32bits(c.want))
			}
			ref := logSumExpGeneric(c.x)
			if d := math.Abs(float64(got - ref)); d > 2.4e-7+4e-7*math.Abs(float64(ref)) {
				t.Fatalf("n=%d: %v, float64 exp gives %v", len(c.x), got, ref)
			}
		}
	})
}

// TestCephesExpKernels checks the kernels' exp against cephesExp element
// by element, bit for bit, on every path: eight copies of v sum exactly to
// 8·exp(v) in float64, so the sums are equal only if the exps are.
func TestCephesExpKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(27, 28))
	vs := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 88, 88.5, 89, 1e30, float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), -87.33654475, -87.3, -87.4, -100, -1e30, 0.5 / 1.44269504088896341, 1.5 / 1.44269504088896341,
		-2.5 / 1.44269504088896341}
	for range 5000 {
		vs = append(vs, float32(r.NormFloat64()*30), math.Float32frombits(r.Uint32()&^(1<<31)|0x3f800000)-1-float32(r.IntN(90)))
	}
	cputest.Each(t, Kernels, func(t *testing.T) {
		var x [8]float32
		for _, v := range vs {
			for i := range x {
				x[i] = v
			}
			want := 8 * float64(cephesExp(v))
			if got := sumExpPortable(x[:], 0); math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("exp(%v): kernel %v, reference %v", v, got/8, want/8)
			}
		}
	})
}

// BenchmarkLogSumExpPortable puts LogSumExpPortable beside LogSumExp and
// the pure-Go reference, on a tutorial-size row (33278 logits).
func BenchmarkLogSumExpPortable(b *testing.B) {
	r := rand.New(rand.NewPCG(25, 26))
	x := randSlice(r, 33278)
	for _, c := range []struct {
		name string
		f    func([]float32) float32
	}{
		{"LogSumExp", LogSumExp},
		{"LogSumExpPortable", LogSumExpPortable},
		{"reference", func(x []float32) float32 {
			mx := maxGeneric(x)
			return mx + float32(math.Log(cephesSumExp(x, mx)))
		}},
	} {
		b.Run("f="+c.name+"/n=33278", func(b *testing.B) {
			b.SetBytes(int64(4 * len(x)))
			b.ReportAllocs()
			for b.Loop() {
				c.f(x)
			}
		})
	}
}
