package f32

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/lstmq/lstmq/internal/cpu"
)

// The PyTorch-exact functions have no tolerance: every variant must give
// the bits of the scalar references in torchmath_generic.go (which the
// golden tests pin to PyTorch), NaN payloads and signed zeros included.

// fma32Exact is x·y+z rounded once to float32, through big.Float.
func fma32Exact(x, y, z float32) float32 {
	if math.IsNaN(float64(x)) || math.IsNaN(float64(y)) || math.IsNaN(float64(z)) ||
		math.IsInf(float64(x), 0) || math.IsInf(float64(y), 0) || math.IsInf(float64(z), 0) {
		return float32(float64(x)*float64(y) + float64(z))
	}
	p := new(big.Float).SetPrec(200).Mul(big.NewFloat(float64(x)), big.NewFloat(float64(y)))
	s := new(big.Float).SetPrec(200).Add(p, big.NewFloat(float64(z)))
	f, _ := s.Float32() // nearest even, subnormals and overflow included
	if f == 0 {
		// An exact zero sum is +0 unless both addends are −0 (or round to it).
		return float32(float64(x)*float64(y) + float64(z))
	}
	return f
}

// TestFMA32 checks fma32 against exact arithmetic on random operands and on
// the cases where rounding the float64 sum to float32 would round twice: the
// exact sum a hair off a float32 midpoint, below the float64 precision.
func TestFMA32(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	n := 300_000
	if testing.Short() {
		n = 30_000
	}
	check := func(x, y, z float32) {
		t.Helper()
		if got, want := fma32(x, y, z), fma32Exact(x, y, z); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("fma32(%g, %g, %g) = %g (%#08x), want %g (%#08x)", x, y, z, got, math.Float32bits(got), want, math.Float32bits(want))
		}
	}
	randf := func(emin, emax int) float32 {
		m := 1 + r.Float64()
		if r.IntN(2) == 0 {
			m = -m
		}
		return float32(math.Ldexp(m, emin+r.IntN(emax-emin+1)))
	}
	var ties int
	for range n {
		// Random operands over the whole range, and z near −x·y (cancellation).
		x, y := randf(-75, 64), randf(-75, 64)
		check(x, y, randf(-150, 127))
		p := x * y
		check(x, y, -p)
		check(x, y, float32(math.Nextafter32(-p, float32(r.NormFloat64()))))

		// x·y = 2^e·(1 − k²·2^-46) and z = K with ulp(K)/2 = 2^e: the exact
		// sum lies k²·2^(e−46) below K ± ulp(K)/2, a midpoint once rounded
		// to float64 (for small k).
		k := float32(1 + r.IntN(64))
		e := -100 + r.IntN(200)
		x = float32(math.Ldexp(float64(1+k*0x1p-23), e))
		y = 1 - k*0x1p-23
		K := float32(math.Ldexp(1+float64(r.IntN(1<<23))*0x1p-23, e+24))
		if math.IsInf(float64(K), 0) || K == 0 {
			continue
		}
		for _, sx := range []float32{1, -1} {
			for _, sz := range []float32{1, -1} {
				check(sx*x, y, sz*K)
				ties++
			}
		}
	}
	// The overflow threshold: MaxFloat32 + ulp/2 − tiny rounds to MaxFloat32.
	check(0x1p103, 1-0x1p-24, math.MaxFloat32)
	check(-0x1p103, 1-0x1p-24, -math.MaxFloat32)
	// Signed zeros, infinities, NaN.
	for _, v := range [][3]float32{{0, 1, 0}, {-0.0, 1, 0}, {1, -1, 1}, {float32(math.Inf(1)), 1, 1}} {
		check(v[0], v[1], v[2])
	}
	t.Logf("%d random and %d near-midpoint cases exact", 3*n, ties)
}

// torchInputs returns the inputs of the cross-checks: every stride-th float32
// bit pattern, uniform draws over the ranges where the functions vary,
// ±64 ulps around every threshold, and NaNs with random payloads.
func torchInputs(r *rand.Rand, stride, nUniform int) []float32 {
	var x []float32
	for b := uint64(r.IntN(stride)); b < 1<<32; b += uint64(stride) {
		x = append(x, math.Float32frombits(uint32(b)))
	}
	for range nUniform {
		x = append(x, float32(r.Float64()*220-110), float32(r.Float64()*20-10), float32(r.NormFloat64()*1e-3))
	}
	edges := []float32{0, 1e-30, 1e-8, 1e-4, 0.5, 1, 8.664339742, 9, 87.33654, 88, 88.72283, 100,
		103.27893, 103.97208, 104, math.SmallestNonzeroFloat32, 0x1p-126, math.MaxFloat32, float32(math.Inf(1))}
	for _, e := range edges {
		for _, s := range []float32{1, -1} {
			lo, hi := s*e, s*e
			x = append(x, lo)
			for range 64 {
				lo, hi = math.Nextafter32(lo, float32(math.Inf(-1))), math.Nextafter32(hi, float32(math.Inf(1)))
				x = append(x, lo, hi)
			}
		}
	}
	for range 1000 {
		x = append(x, math.Float32frombits(0x7f80_0000|r.Uint32()&0x807f_ffff|1))
	}
	r.Shuffle(len(x), func(i, j int) { x[i], x[j] = x[j], x[i] })
	return x
}

func TestTorchMathVariants(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 34))
	stride, nu := 1021, 400_000
	if testing.Short() {
		stride, nu = 16381, 20_000
	}
	x := torchInputs(r, stride, nu)
	wantExp, wantTanh, wantSig := make([]float32, len(x)), make([]float32, len(x)), make([]float32, len(x))
	for i, v := range x {
		wantExp[i], wantTanh[i], wantSig[i] = sleefExpf(v), sleefTanhf(v), sigmoidSleef(v)
	}
	// SigmoidTorch's row of len(x): Sleef up to the last whole block, glibc after.
	for i := len(x) - len(x)%TorchBlockAVX2; i < len(x); i++ {
		wantSig[i] = sigmoidGlibc(x[i])
	}
	forEachLevel(t, func(t *testing.T, lv cpu.Level) {
		if lv == cpu.Generic {
			return // the references themselves (TestTorchMathSizes covers the row logic)
		}
		got := make([]float32, len(x))
		for _, f := range []struct {
			name string
			run  func()
			want []float32
		}{
			{"ExpTorch", func() { ExpTorch(got, x) }, wantExp},
			{"TanhTorch", func() { TanhTorch(got, x) }, wantTanh},
			{"SigmoidTorch", func() { SigmoidTorch(got, x, TorchBlockAVX2) }, wantSig},
		} {
			f.run()
			for i := range x {
				if math.Float32bits(got[i]) != math.Float32bits(f.want[i]) {
					t.Fatalf("%s(%g = %#08x) = %#08x, want %#08x", f.name, x[i], math.Float32bits(x[i]), math.Float32bits(got[i]), math.Float32bits(f.want[i]))
				}
			}
		}
		t.Logf("%d inputs: ExpTorch, TanhTorch, SigmoidTorch bit-exact", len(x))
	})
}

// TestTorchMathSizes runs the vector functions on every length up to 70 at
// misaligned starts, inside guard bands, for both block widths.
func TestTorchMathSizes(t *testing.T) {
	forEachLevel(t, func(t *testing.T, lv cpu.Level) {
		r := rand.New(rand.NewPCG(35, 36))
		for n := 0; n <= 70; n++ {
			off := n % 16
			x := randSlice(r, n+off)[off:]
			for i := range x {
				x[i] *= 6
			}
			for _, block := range []int{TorchBlockAVX2, TorchBlockAVX512, 8} {
				dst, check := guarded(t, n, (off+3)%16, nil)
				SigmoidTorch(dst, x, block)
				check()
				want := make([]float32, n)
				sigmoidTorchGeneric(want, x, block)
				for i := range want {
					if math.Float32bits(dst[i]) != math.Float32bits(want[i]) {
						t.Fatalf("n=%d block=%d: SigmoidTorch[%d] = %v, want %v", n, block, i, dst[i], want[i])
					}
				}
			}
			for _, f := range []struct {
				run func(dst, x []float32)
				ref func(float32) float32
			}{{ExpTorch, sleefExpf}, {TanhTorch, sleefTanhf}} {
				dst, check := guarded(t, n, (off+7)%16, nil)
				f.run(dst, x)
				check()
				for i, v := range x {
					if want := f.ref(v); math.Float32bits(dst[i]) != math.Float32bits(want) {
						t.Fatalf("n=%d: [%d] = %v, want %v", n, i, dst[i], want)
					}
				}
			}
			// In place.
			y := append([]float32(nil), x...)
			TanhTorch(y, y)
			for i, v := range x {
				if math.Float32bits(y[i]) != math.Float32bits(sleefTanhf(v)) {
					t.Fatalf("n=%d: TanhTorch in place differs at %d", n, i)
				}
			}
		}
	})
}

func TestLSTMCellTorch(t *testing.T) {
	forEachLevel(t, func(t *testing.T, lv cpu.Level) {
		r := rand.New(rand.NewPCG(37, 38))
		hs := []int{256, 650}
		for h := 0; h <= 70; h++ {
			hs = append(hs, h)
		}
		specials := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)), 95, -120, 1e-30}
		var n int
		for _, h := range hs {
			for _, block := range []int{TorchBlockAVX2, TorchBlockAVX512} {
				b := 1 + h%3
				hStride := h + 5
				gates := make([]float32, b*4*h)
				for i := range gates {
					gates[i] = float32(3 * r.NormFloat64())
				}
				c0 := randSlice(r, b*h)
				for i := range c0 {
					c0[i] *= 2
				}
				if h > 0 && h%4 == 0 { // a few specials in gates and c
					for _, v := range specials {
						gates[r.IntN(len(gates))] = v
						c0[r.IntN(len(c0))] = v
					}
				}
				off := h % 16
				c, checkC := guarded(t, b*h, off, c0)
				hOut, checkH := guarded(t, max(0, (b-1)*hStride+h), (off+5)%16, nil)
				LSTMCellTorchBlock(gates, c, hOut, b, h, hStride, block)
				checkC()
				checkH()
				wantC := append([]float32(nil), c0...)
				wantH := make([]float32, len(hOut))
				for rr := range b {
					lstmCellTorchRowGeneric(gates[rr*4*h:rr*4*h+4*h], wantC[rr*h:rr*h+h], wantH[rr*hStride:rr*hStride+h], h, block)
				}
				for rr := range b {
					for j := range h {
						i, o := rr*h+j, rr*hStride+j
						if math.Float32bits(c[i]) != math.Float32bits(wantC[i]) || math.Float32bits(hOut[o]) != math.Float32bits(wantH[o]) {
							t.Fatalf("b=%d h=%d block=%d, row %d col %d: c' = %#08x, h' = %#08x; want %#08x, %#08x", b, h, block, rr, j,
								math.Float32bits(c[i]), math.Float32bits(hOut[o]), math.Float32bits(wantC[i]), math.Float32bits(wantH[o]))
						}
						n++
					}
					for j := h; rr < b-1 && j < hStride; j++ {
						if v := hOut[rr*hStride+j]; math.Float32bits(v) != math.Float32bits(sentinel) {
							t.Fatalf("b=%d h=%d: hOut[%d] written between rows", b, h, rr*hStride+j)
						}
					}
				}
			}
		}
		t.Logf("%d cells bit-exact", n)
	})
}

func TestLSTMCellTorchAllocs(t *testing.T) {
	forEachLevel(t, func(t *testing.T, lv cpu.Level) {
		r := rand.New(rand.NewPCG(39, 40))
		const h = 650
		gates, c, hOut := randSlice(r, 4*h), randSlice(r, h), make([]float32, h)
		if got := testing.AllocsPerRun(10, func() {
			LSTMCellTorch(gates, c, hOut, 1, h, h)
			SigmoidTorch(hOut, gates[:h], TorchBlockAVX2)
			TanhTorch(hOut, gates[:h])
		}); got != 0 {
			t.Errorf("%v allocations per LSTMCellTorch+SigmoidTorch+TanhTorch, want 0", got)
		}
	})
}

// BenchmarkLSTMCellTorch sits beside BenchmarkLSTMCell (same shapes, same
// names) for benchstat.
func BenchmarkLSTMCellTorch(b *testing.B) {
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
					LSTMCellTorch(gates, c, hOut, 1, h, h)
					copy(c, gates[:h]) // keep c bounded
				}
			})
		}
	}
}
