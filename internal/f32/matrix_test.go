package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lstmq/lstmq/internal/cpu"
	"github.com/lstmq/lstmq/internal/cpu/cputest"
	"github.com/lstmq/lstmq/internal/parallel"
)

// forEachLevel runs f once per kernel family this machine and build support,
// with impl forced to it.
func forEachLevel(t *testing.T, f func(t *testing.T, lv cpu.Level)) {
	cputest.Each(t, Kernels, func(t *testing.T) { f(t, impl) })
}

// levels lists the kernel levels this CPU runs, the reference first.
func levels() []cpu.Level {
	var ls []cpu.Level
	for _, name := range Kernels.Available() {
		ls = append(ls, levelOf(name))
	}
	return ls
}

const guard = 16

var sentinel = float32(math.Float32frombits(0x7fc0_1234)) // a NaN payload no kernel produces

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// guarded returns a slice of n elements starting off elements into a buffer
// whose other elements hold sentinel, and a check that they still do.
func guarded(t *testing.T, n, off int, init []float32) ([]float32, func()) {
	buf := make([]float32, off+n+guard)
	for i := range buf {
		buf[i] = sentinel
	}
	s := buf[off : off+n]
	copy(s, init)
	return s, func() {
		t.Helper()
		for i, v := range buf {
			if (i < off || i >= off+n) && math.Float32bits(v) != math.Float32bits(sentinel) {
				t.Fatalf("write outside dst at buffer index %d (dst is [%d,%d)): %v", i, off, off+n, v)
			}
		}
	}
}

// checkProduct compares got with the exact product. The kernels and the
// reference each sum k products in float32 (the SIMD ones with FMA, in the
// same order p = 0..k−1), then add bias or the old dst. By the standard
// bound for recursive summation (Higham, Accuracy and Stability, §3.1) each
// result is within γ_{k+1}·S of the exact value, γ_n = n·u/(1−n·u) with
// u = 2⁻²⁴ and S = Σ_p |x_p·w_p| + |bias or old dst|. We allow that bound (it
// is what the summation order can cost, not a fudge factor) plus the
// smallest normal float for the k = 0 corner.
func checkProduct(t *testing.T, got, x, w, bias, old []float32, m, n, k int) {
	t.Helper()
	const u = 1.0 / (1 << 24)
	g := float64(k+1) * u / (1 - float64(k+1)*u)
	for i := range m {
		for j := range n {
			var exact, s float64
			for p := range k {
				v := float64(x[i*k+p]) * float64(w[j*k+p])
				exact += v
				s += math.Abs(v)
			}
			switch {
			case old != nil:
				exact += float64(old[i*n+j])
				s += math.Abs(float64(old[i*n+j]))
			case bias != nil:
				exact += float64(bias[j])
				s += math.Abs(float64(bias[j]))
			}
			d := math.Abs(float64(got[i*n+j]) - exact)
			if d > g*s+math.SmallestNonzeroFloat32 || math.IsNaN(float64(got[i*n+j])) {
				t.Fatalf("m=%d n=%d k=%d: dst[%d,%d] = %v, want %v (|err| %.3g > bound %.3g)", m, n, k, i, j, got[i*n+j], exact, d, g*s)
			}
		}
	}
}

// testProduct runs Mul (with and without bias) and MulAdd for one shape with
// misaligned operands inside guard bands.
func testProduct(t *testing.T, r *rand.Rand, m, n, k, off int) {
	t.Helper()
	w := randSlice(r, n*k)
	a := NewMatrix(w, n, k)
	xs := randSlice(r, m*k+off)
	x := xs[off:]
	bias := randSlice(r, n+off)[off:]
	old := randSlice(r, m*n)

	for _, b := range [][]float32{nil, bias} {
		dst, check := guarded(t, m*n, off, nil)
		a.Mul(nil, dst, x, m, b)
		check()
		checkProduct(t, dst, x, w, b, nil, m, n, k)
	}
	dst, check := guarded(t, m*n, (off+7)%16, old)
	a.MulAdd(nil, dst, x, m)
	check()
	checkProduct(t, dst, x, w, nil, old, m, n, k)
}

// forEachPath runs f with W packed up front and with W packed a block at a
// time on every call.
func forEachPath(t *testing.T, f func(t *testing.T)) {
	for _, after := range []int64{1, 1 << 62} {
		t.Run(map[int64]string{1: "packed", 1 << 62: "blocks"}[after], func(t *testing.T) {
			defer func(old int64) { packAfter = old }(packAfter)
			packAfter = after
			f(t)
		})
	}
}

func TestMulSizes(t *testing.T) {
	forEachLevel(t, func(t *testing.T, lv cpu.Level) {
		forEachPath(t, func(t *testing.T) { testMulSizes(t) })
	})
}

func testMulSizes(t *testing.T) {
	{
		r := rand.New(rand.NewPCG(1, 2))
		ms := []int{1, 2, 3, 5, 6, 7, 13, 25}
		// -short (the emulated arm64 run in CI) keeps every size up to
		// 100 and the panel edges beyond.
		skip := func(v int) bool { return testing.Short() && v > 100 && v%16 > 1 && v%16 < 15 }
		for n := 0; n <= 300; n++ { // every n: panel edges, all tile widths
			if !skip(n) {
				testProduct(t, r, ms[n%len(ms)], n, 1+n%37, n%16)
			}
		}
		for k := 0; k <= 300; k++ { // every k: the unroll-by-4 tail
			if !skip(k) {
				testProduct(t, r, ms[k%len(ms)], 16*(k%5)+k%17, k, (k+3)%16)
			}
		}
		for m := 0; m <= 30; m++ { // every m: row-tile splits
			testProduct(t, r, m, 150, 33, m%16)
		}
		testProduct(t, r, 3, 1000, 40, 5) // several packing blocks
	}
}

// TestMulDeterministic checks that the result does not depend on the thread
// split nor on packing W up front or by blocks, and that all SIMD families
// agree bit for bit (they all sum each output with FMAs in index order).
func TestMulDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const m, n, k = 7, 1000 + 5, 70
	w := randSlice(r, n*k)
	x := randSlice(r, m*k)
	bias := randSlice(r, n)
	var first []float32
	forEachLevel(t, func(t *testing.T, lv cpu.Level) {
		a := NewMatrix(w, n, k) // the first product packs by blocks, the others use the packed W
		var one, many []float32
		one = make([]float32, m*n)
		a.Mul(nil, one, x, m, bias)
		for _, th := range []int{2, 3, 8} {
			many = make([]float32, m*n)
			a.Mul(parallel.NewPool(th), many, x, m, bias)
			for i := range one {
				if math.Float32bits(one[i]) != math.Float32bits(many[i]) {
					t.Fatalf("threads=%d: dst[%d] = %v, 1 thread gives %v", th, i, many[i], one[i])
				}
			}
		}
		if lv == cpu.Generic {
			return
		}
		if first == nil {
			first = one
			return
		}
		for i := range one {
			if math.Float32bits(one[i]) != math.Float32bits(first[i]) {
				t.Fatalf("dst[%d] = %v, the other SIMD family gives %v", i, one[i], first[i])
			}
		}
	})
}

func TestMatrixData(t *testing.T) {
	w := []float32{1, 2, 3, 4, 5, 6}
	a := NewMatrix(w, 2, 3)
	if a.Rows() != 2 || a.Cols() != 3 || &a.Data()[0] != &w[0] {
		t.Fatalf("Rows, Cols, Data = %d, %d, %v", a.Rows(), a.Cols(), a.Data())
	}
	// x = [1 1 1; 0 1 0]: rows of x·Wᵀ are the row sums and middle column of W.
	dst := make([]float32, 4)
	a.Mul(nil, dst, []float32{1, 1, 1, 0, 1, 0}, 2, []float32{10, 20})
	want := []float32{16, 35, 12, 25}
	for i := range want {
		if dst[i] != want[i] {
			t.Fatalf("Mul = %v, want %v", dst, want)
		}
	}
}

func TestMulAllocs(t *testing.T) {
	forEachLevel(t, func(t *testing.T, lv cpu.Level) {
		forEachPath(t, func(t *testing.T) { testMulAllocs(t) })
	})
}

// raceEnabled is set by race_test.go.
var raceEnabled bool

func testMulAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	{
		r := rand.New(rand.NewPCG(5, 6))
		const m, n, k = 25, 1000, 64
		a := NewMatrix(randSlice(r, n*k), n, k)
		x, bias, dst := randSlice(r, m*k), randSlice(r, n), make([]float32, m*n)
		a.Mul(nil, dst, x, m, bias) // packs W or warms the block buffer pool
		if got := testing.AllocsPerRun(20, func() { a.Mul(nil, dst, x, m, bias); a.MulAdd(nil, dst, x, 1) }); got != 0 {
			t.Errorf("1 thread: %v allocations per Mul+MulAdd, want 0", got)
		}
		pool := parallel.NewPool(2)
		if got := testing.AllocsPerRun(20, func() { a.Mul(pool, dst, x, m, bias) }); got != 0 {
			t.Errorf("2 threads: %v allocations per Mul, want 0", got)
		}
	}
}

var benchShapes = []struct{ m, n, k int }{
	{25, 33278, 256}, // decoder, evaluation
	{1, 33278, 256},  // decoder, generation
	{25, 33278, 650},
	{25, 1024, 512}, // LSTM input projection
	{25, 1024, 256},
	{1, 1024, 256}, // recurrent GEMV
}

func BenchmarkMul(b *testing.B) {
	defer func(old cpu.Level) { impl = old }(impl)
	r := rand.New(rand.NewPCG(7, 8))
	for _, lv := range levels() {
		impl = lv
		for _, s := range benchShapes {
			a := NewMatrix(randSlice(r, s.n*s.k), s.n, s.k)
			x, bias, dst := randSlice(r, s.m*s.k), randSlice(r, s.n), make([]float32, s.m*s.n)
			run := func(b *testing.B) {
				b.SetBytes(int64(4 * (s.n*s.k + s.m*s.k + s.m*s.n)))
				b.ReportAllocs()
				for range 2 { // pack W (on the second product), outside the timing
					a.Mul(nil, dst, x, s.m, bias)
				}
				for b.Loop() {
					if s.m == 1 {
						a.MulAdd(nil, dst, x, s.m)
					} else {
						a.Mul(nil, dst, x, s.m, bias)
					}
				}
				flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			}
			b.Run(fmt.Sprintf("cpu=%v/shape=m%dn%dk%d", lv, s.m, s.n, s.k), run)
			if lv != cpu.Generic && s.m > 1 && s.n > 10000 {
				// A Matrix used once (training) packs W by blocks on every call.
				packAfter = 1 << 62
				a = NewMatrix(a.Data(), s.n, s.k)
				b.Run(fmt.Sprintf("cpu=%v/once/shape=m%dn%dk%d", lv, s.m, s.n, s.k), run)
				packAfter = 2
			}
		}
	}
	impl = levelOf(Kernels.Active())
	b.Logf("PeakGFLOPS (%v) = %.1f", impl, PeakGFLOPS())
}
