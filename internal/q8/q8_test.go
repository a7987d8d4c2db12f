package q8

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lstmq/lstmq/internal/parallel"
)

// use makes k the active kernel for the rest of the test.
// use selects kernel k for the rest of the test.
func use(t testing.TB, k *kernel) {
	old := Kernels.Active()
	if err := Kernels.Select(k.name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Kernels.Select(old) })
}

// kernels lists the kernels this CPU runs, the reference first.
func kernels() []*kernel {
	ks := []*kernel{generic}
	for _, name := range Kernels.Available()[1:] {
		ks = append(ks, byName[name])
	}
	return ks
}

// refMul is the test's own product: Σ_p a[i,p]·W[j,p] in int64.
func refMul(a []uint8, w []int8, m, n, k int) []int32 {
	out := make([]int32, m*n)
	for i := range m {
		for j := range n {
			var s int64
			for p := range k {
				s += int64(a[i*k+p]) * int64(w[j*k+p])
			}
			out[i*n+j] = int32(s)
		}
	}
	return out
}

// randU8 fills activations in 0..hi, with a run of hi and of 0 so the
// extremes are always present.
func randU8(r *rand.Rand, n int, hi uint8) []uint8 {
	a := make([]uint8, n)
	for i := range a {
		switch {
		case i%7 == 3:
			a[i] = hi
		case i%11 == 5:
			a[i] = 0
		default:
			a[i] = uint8(r.IntN(int(hi) + 1))
		}
	}
	return a
}

func randI8(r *rand.Rand, n int) []int8 {
	w := make([]int8, n)
	for i := range w {
		switch i % 13 {
		case 1:
			w[i] = -128
		case 2:
			w[i] = 127
		default:
			w[i] = int8(r.IntN(256) - 128)
		}
	}
	return w
}

const guard = 17

// guarded returns a slice of n elements starting off elements into a
// buffer with guard elements on both sides, all set to g.
func guarded[T any](n, off int, g T) (buf, s []T) {
	buf = make([]T, off+n+2*guard)
	for i := range buf {
		buf[i] = g
	}
	return buf, buf[guard+off : guard+off+n]
}

func checkGuard[T comparable](t *testing.T, buf []T, n, off int, g T, what string) {
	t.Helper()
	for i, v := range buf {
		if (i < guard+off || i >= guard+off+n) && v != g {
			t.Fatalf("%s: write outside the output at buffer index %d (output [%d,%d))", what, i, guard+off, guard+off+n)
		}
	}
}

var (
	edgeN = []int{0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65, 79, 80, 127, 128, 129, 191, 192, 193, 255, 256, 257, 299, 300}
	edgeK = []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 299, 300}
	edgeM = []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 17, 24, 25, 29, 30}
)

type shape struct{ m, n, k int }

func shapes() []shape {
	var s []shape
	for _, n := range edgeN {
		for _, k := range edgeK {
			s = append(s, shape{1 + (n+k)%7, n, k})
		}
	}
	for _, m := range edgeM {
		for _, nk := range [][2]int{{65, 33}, {17, 130}, {129, 7}} {
			s = append(s, shape{m, nk[0], nk[1]})
		}
	}
	for m := 0; m <= 30; m++ {
		s = append(s, shape{m, 80, 20})
	}
	for _, k := range edgeK { // one row: the two-accumulator loops
		s = append(s, shape{1, 70, k}, shape{2, 70, k})
	}
	return s
}

func TestMulU8(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, kern := range kernels() {
		t.Run(kern.name, func(t *testing.T) {
			use(t, kern)
			for si, sh := range shapes() {
				m, n, k := sh.m, sh.n, sh.k
				off := si % 4
				abuf, a := guarded(m*k, off, uint8(0))
				copy(a, randU8(r, m*k, kern.maxU8))
				_ = abuf
				w := randI8(r, n*k)
				p := Pack(w, n, k, []float32{1})
				want := refMul(a, w, m, n, k)
				buf, acc := guarded(m*n, off, int32(-7))
				p.MulU8(nil, acc, a, m)
				checkGuard(t, buf, m*n, off, int32(-7), fmt.Sprintf("m=%d n=%d k=%d", m, n, k))
				for i := range want {
					if acc[i] != want[i] {
						t.Fatalf("m=%d n=%d k=%d: acc[%d,%d] = %d, want %d", m, n, k, i/n, i%n, acc[i], want[i])
					}
				}
			}
		})
	}
}

// TestMulU8Extremes checks the largest sums: all activations at the
// kernel's maximum times all weights at −128 or 127.
func TestMulU8Extremes(t *testing.T) {
	for _, kern := range kernels() {
		for _, wv := range []int8{-128, 127} {
			use(t, kern)
			m, n, k := 7, 70, 650
			a := make([]uint8, m*k)
			for i := range a {
				a[i] = kern.maxU8
			}
			w := make([]int8, n*k)
			for i := range w {
				w[i] = wv
			}
			acc := make([]int32, m*n)
			Pack(w, n, k, []float32{1}).MulU8(nil, acc, a, m)
			want := int32(kern.maxU8) * int32(wv) * int32(k)
			for i, v := range acc {
				if v != want {
					t.Fatalf("%s w=%d: acc[%d] = %d, want %d", kern.name, wv, i, v, want)
				}
			}
		}
	}
}

// wantDequant is the test's own statement of the FBGEMM float op order:
// float32(acc − za·rowsum) · float32(sa·scale) rounded, then + bias rounded.
func wantDequant(acc []int32, w []int8, m, n, k int, sa float32, za int32, scales, bias []float32) []float32 {
	out := make([]float32, m*n)
	for j := range n {
		var rs int32
		for p := range k {
			rs += int32(w[j*k+p])
		}
		sc := scales[0]
		if len(scales) == n {
			sc = scales[j]
		}
		mult := sa * sc
		for i := range m {
			x := float32(acc[i*n+j] - za*rs)
			v := float32(x * mult)
			if bias != nil {
				v = float32(v + bias[j])
			}
			out[i*n+j] = v
		}
	}
	return out
}

// TestMulU8Dequant compares bit for bit: every variant performs the same
// float32 operations in the same order (exact int32 sums, one conversion,
// two products, one add), so no tolerance is needed.
func TestMulU8Dequant(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, kern := range kernels() {
		t.Run(kern.name, func(t *testing.T) {
			use(t, kern)
			for si, sh := range shapes() {
				if si%3 != 0 {
					continue
				}
				m, n, k := sh.m, sh.n, sh.k
				a := randU8(r, m*k, kern.maxU8)
				w := randI8(r, n*k)
				scales := []float32{r.Float32()*0.01 + 1e-4}
				if si%2 == 0 {
					scales = make([]float32, n)
					for j := range scales {
						scales[j] = r.Float32()*0.01 + 1e-4
					}
				}
				var bias []float32
				if si%4 < 2 {
					bias = make([]float32, n)
					for j := range bias {
						bias[j] = r.Float32()*2 - 1
					}
				}
				sa := r.Float32()*0.05 + 1e-3
				za := int32(r.IntN(256))
				p := Pack(w, n, k, scales)
				want := wantDequant(refMul(a, w, m, n, k), w, m, n, k, sa, za, scales, bias)
				off := si % 3
				buf, dst := guarded(m*n, off, float32(-3))
				p.MulU8Dequant(nil, dst, a, m, sa, za, bias)
				checkGuard(t, buf, m*n, off, float32(-3), fmt.Sprintf("m=%d n=%d k=%d", m, n, k))
				for i := range want {
					if math.Float32bits(dst[i]) != math.Float32bits(want[i]) {
						t.Fatalf("m=%d n=%d k=%d bias=%v: dst[%d,%d] = %g, want %g", m, n, k, bias != nil, i/n, i%n, dst[i], want[i])
					}
				}
			}
		})
	}
}

func TestPackAccessors(t *testing.T) {
	w := []int8{1, -2, 3, 127, -128, 0}
	p := Pack(w, 2, 3, []float32{0.5, 0.25})
	w[0] = 9 // Pack keeps a copy, not w
	if p.Rows() != 2 || p.Cols() != 3 || !slices.Equal(p.Weights(), []int8{1, -2, 3, 127, -128, 0}) || p.Scales()[1] != 0.25 {
		t.Fatalf("accessors: Weights() = %v", p.Weights())
	}
	if rs := p.RowSums(); rs[0] != 2 || rs[1] != -1 {
		t.Fatalf("RowSums = %v, want [2 -1]", rs)
	}
}

// TestWeightsRoundTrip checks that Weights rebuilds W from the packed
// layout for sizes around the panel (16 rows) and quad (4 columns) edges.
func TestWeightsRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 15, 16, 17, 63, 64, 65} {
		for _, k := range []int{0, 1, 3, 4, 5, 7, 8, 9, 33} {
			w := randI8(r, n*k)
			if got := Pack(slices.Clone(w), n, k, []float32{1}).Weights(); !slices.Equal(got, w) {
				t.Fatalf("n=%d k=%d: Weights() = %v, want %v", n, k, got, w)
			}
		}
	}
}

// TestThreads checks that the result does not depend on the thread count.
func TestThreads(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	m, n, k := 25, 1000, 200
	a, w := randU8(r, m*k, MaxExactU8()), randI8(r, n*k)
	p := Pack(w, n, k, []float32{0.01})
	bias := make([]float32, n)
	var first []float32
	for _, th := range []int{1, 2, 3} {
		d := make([]float32, m*n)
		p.MulU8Dequant(parallel.NewPool(th), d, a, m, 0.02, 3, bias)
		if first == nil {
			first = d
			continue
		}
		for i := range d {
			if d[i] != first[i] {
				t.Fatalf("threads=%d: differs at %d", th, i)
			}
		}
	}
}

func TestMaxExactU8(t *testing.T) {
	for _, kern := range kernels() {
		use(t, kern)
		want := uint8(255)
		if kern == generic {
			want = 255
		} else if kern.name == "avx2" {
			want = 128
		}
		if got := MaxExactU8(); got != want {
			t.Errorf("%s: MaxExactU8 = %d, want %d", kern.name, got, want)
		}
	}
}

// exactFMA32 rounds x·y+z computed exactly to float32 (nearest, ties even).
func exactFMA32(x, y, z float32) float32 {
	v := new(big.Float).SetPrec(200).SetFloat64(float64(x))
	v.Mul(v, new(big.Float).SetFloat64(float64(y)))
	v.Add(v, new(big.Float).SetFloat64(float64(z)))
	f, _ := v.Float32()
	return f
}

func TestFMA32(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	check := func(x, y, z float32) {
		if got, want := fma32(x, y, z), exactFMA32(x, y, z); got != want {
			t.Fatalf("fma32(%g, %g, %g) = %g, want %g", x, y, z, got, want)
		}
	}
	for range 200000 {
		x := (r.Float32()*2 - 1) * float32(math.Pow(2, float64(r.IntN(40)-20)))
		y := r.Float32() * 300
		check(x, y, float32(r.IntN(256)))
	}
	// A product just off a half-way point of the sum's float32 grid.
	for range 200000 {
		z := float32(r.IntN(256))
		x := math.Float32frombits(r.Uint32()&0x007fffff | 0x3f000000)
		y := math.Float32frombits(r.Uint32()&0x007fffff | 0x33000000)
		check(x, y, z)
	}
}

func TestQuantizeU8Values(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	cases := []struct {
		x    float32
		inv  float32
		zp   int32
		qmax int32
		want uint8
	}{
		{2.5, 1, 0, 255, 2}, // half to even
		{3.5, 1, 0, 255, 4},
		{-0.5, 1, 10, 255, 10}, // fma(−0.5,1,10) = 9.5 → 10
		{0.5, 1, 10, 255, 10},  // 10.5 → 10
		{1.5, 1, 10, 255, 12},  // 11.5 → 12
		{-3, 1, 0, 255, 0},
		{300, 1, 0, 255, 255},
		{200, 1, 0, 127, 127},
		{nan, 1, 0, 255, 255}, // FBGEMM's min_ps(NaN, c) = c
		{inf, 1, 0, 255, 255},
		{-inf, 1, 0, 200, 0},
		{1e30, 1e10, 0, 255, 255},
		{0.1, 1270, 0, 255, 127},
	}
	for _, vec := range []bool{false, true} {
		if vec && !hasVecQuant() {
			continue
		}
		old := vecQuant
		vecQuant = vec
		for _, c := range cases {
			x := make([]float32, 64)
			for i := range x {
				x[i] = c.x
			}
			dst := make([]uint8, 64)
			QuantizeU8(dst, x, c.inv, c.zp, c.qmax)
			for i, v := range dst {
				if v != c.want {
					t.Errorf("vec=%v QuantizeU8(%g, inv %g, zp %d, qmax %d)[%d] = %d, want %d", vec, c.x, c.inv, c.zp, c.qmax, i, v, c.want)
					break
				}
			}
		}
		vecQuant = old
	}
}

// TestQuantizeU8 compares the vector path with the reference on every
// length 0..300 and misaligned starts, bit for bit.
func TestQuantizeU8(t *testing.T) {
	if !hasVecQuant() {
		t.Skip("no vector QuantizeU8")
	}
	r := rand.New(rand.NewPCG(9, 10))
	for n := 0; n <= 300; n++ {
		off := n % 5
		x := make([]float32, n+off)[off:]
		for i := range x {
			x[i] = (r.Float32()*2 - 1) * 3
			if i%9 == 4 { // exact half-way points
				x[i] = float32(r.IntN(40)-20) + 0.5
			}
		}
		inv := float32(1) / (6.0 / 255)
		if n%3 == 0 {
			inv = 1
		}
		zp, qmax := int32(n%256), int32(255)
		if n%2 == 1 {
			qmax = 127
		}
		want := make([]uint8, n)
		quantizeGeneric(want, x, inv, zp, qmax)
		buf, got := guarded(n, off, uint8(0xAA))
		QuantizeU8(got, x, inv, zp, qmax)
		checkGuard(t, buf, n, off, uint8(0xAA), fmt.Sprintf("n=%d", n))
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("n=%d: dst[%d] = %d, want %d (x=%g)", n, i, got[i], want[i], x[i])
			}
		}
	}
}

func TestMinMax(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	if lo, hi := MinMax(nil); lo != 0 || hi != 0 {
		t.Fatalf("MinMax(nil) = %g, %g", lo, hi)
	}
	for n := 1; n <= 300; n++ {
		off := n % 3
		x := make([]float32, n+off)[off:]
		for i := range x {
			x[i] = r.Float32()*100 - 50
		}
		lo, hi := x[0], x[0]
		for _, v := range x {
			lo, hi = min(lo, v), max(hi, v)
		}
		if gl, gh := MinMax(x); gl != lo || gh != hi {
			t.Fatalf("n=%d: MinMax = %g, %g, want %g, %g", n, gl, gh, lo, hi)
		}
	}
}

func TestAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	m, n, k := 25, 1000, 258
	a, w := randU8(r, m*k, 127), randI8(r, n*k)
	p := Pack(w, n, k, []float32{0.01})
	acc, dst := make([]int32, m*n), make([]float32, m*n)
	x, bias := make([]float32, m*k), make([]float32, n)
	for _, kern := range kernels() {
		use(t, kern)
		if got := testing.AllocsPerRun(3, func() {
			lo, hi := MinMax(x)
			QuantizeU8(a, x, 1/(hi-lo+1), 0, 127)
			p.MulU8(nil, acc, a, m)
			p.MulU8Dequant(nil, dst, a, m, 0.1, 3, bias)
			p.MulU8Dequant(nil, dst, a, 1, 0.1, 3, nil)
		}); got != 0 {
			t.Errorf("%s: %v allocations per call, want 0", kern.name, got)
		}
	}
}

func TestPeakGOPS(t *testing.T) {
	if g := PeakGOPS(); !(g > 0) {
		t.Fatalf("PeakGOPS = %g", g)
	}
	t.Logf("kernel %s: PeakGOPS %.0f", Kernel(), PeakGOPS())
}

// FuzzMulU8 compares every kernel with the reference on fuzzed shapes and
// values (the assembly and the pure-Go paths alike).
func FuzzMulU8(f *testing.F) {
	f.Add(uint8(3), uint16(70), uint16(33), uint64(1))
	f.Add(uint8(1), uint16(64), uint16(4), uint64(2))
	f.Fuzz(func(t *testing.T, m8 uint8, n16, k16 uint16, seed uint64) {
		m, n, k := int(m8%32), int(n16%200), int(k16%300)
		r := rand.New(rand.NewPCG(seed, 0))
		w := randI8(r, n*k)
		p := Pack(w, n, k, []float32{1})
		for _, kern := range kernels() {
			a := randU8(r, m*k, kern.maxU8)
			want := refMul(a, w, m, n, k)
			old := impl
			impl = kern
			acc := make([]int32, m*n)
			p.MulU8(nil, acc, a, m)
			impl = old
			for i := range want {
				if acc[i] != want[i] {
					t.Fatalf("%s m=%d n=%d k=%d: acc[%d] = %d, want %d", kern.name, m, n, k, i, acc[i], want[i])
				}
			}
		}
	})
}

// TestRequireExact checks that a Packed that must be exact for activations
// up to 255 gives the exact sums on every kernel, AVX2's included (which
// would saturate without the reference fallback).
func TestRequireExact(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	m, n, k := 5, 37, 70
	for _, kern := range kernels() {
		t.Run(kern.name, func(t *testing.T) {
			use(t, kern)
			a := make([]uint8, m*k)
			for i := range a {
				a[i] = 255 - uint8(r.IntN(8)) // pair sums far past int16 with weights ±128
			}
			w := make([]int8, n*k)
			for i := range w {
				w[i] = -128 + int8(r.IntN(2)) // pairs of −128·255 reach −65280
			}
			p := Pack(w, n, k, []float32{1})
			p.RequireExact(255)
			acc := make([]int32, m*n)
			p.MulU8(nil, acc, a, m)
			want := refMul(a, w, m, n, k)
			for i := range want {
				if acc[i] != want[i] {
					t.Fatalf("acc[%d,%d] = %d, want %d", i/n, i%n, acc[i], want[i])
				}
			}
		})
	}
}

// TestProductAllocs checks that a product split over several threads
// allocates nothing in steady state (its task comes from a pool).
func TestProductAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	r := rand.New(rand.NewPCG(13, 14))
	m, n, k := 4, 4096, 256
	a, w := randU8(r, m*k, 127), randI8(r, n*k)
	p := Pack(w, n, k, []float32{0.01})
	dst, bias := make([]float32, m*n), make([]float32, n)
	acc := make([]int32, m*n)
	pool := parallel.NewPool(2)
	for _, kern := range kernels() {
		use(t, kern)
		run := func() {
			p.MulU8Dequant(pool, dst, a, m, 0.02, 3, bias)
			p.MulU8(pool, acc, a, m)
		}
		run()
		if got := testing.AllocsPerRun(20, run); got != 0 {
			t.Errorf("%s: %v allocations per product on 2 threads", kern.name, got)
		}
	}
}

// raceEnabled is set by race_test.go.
var raceEnabled bool

// wantOneDNN is the test's own statement of oneDNN's float op order:
// (float32(acc − za·rowsum) + bq) rounded, then · osc rounded.
func wantOneDNN(acc []int32, w []int8, m, n, k int, za int32, osc, bq []float32) []float32 {
	out := make([]float32, m*n)
	for j := range n {
		var rs int32
		for p := range k {
			rs += int32(w[j*k+p])
		}
		for i := range m {
			v := float32(acc[i*n+j] - za*rs)
			if bq != nil {
				v = float32(v + bq[j])
			}
			out[i*n+j] = float32(v * osc[j])
		}
	}
	return out
}

// TestMulU8OneDNN compares every kernel's oneDNN epilogue with the test's
// own loop bit for bit, with and without a bias, in guard bands.
func TestMulU8OneDNN(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, kern := range kernels() {
		t.Run(kern.name, func(t *testing.T) {
			use(t, kern)
			for si, sh := range shapes() {
				if si%3 != 1 {
					continue
				}
				m, n, k := sh.m, sh.n, sh.k
				a := randU8(r, m*k, kern.maxU8)
				w := randI8(r, n*k)
				osc := make([]float32, n)
				for j := range osc {
					osc[j] = r.Float32()*1e-3 + 1e-6
				}
				var bq []float32
				if si%2 == 0 {
					bq = make([]float32, n)
					for j := range bq {
						bq[j] = (r.Float32()*2 - 1) * 1e4
					}
				}
				za := int32(r.IntN(129))
				p := Pack(w, n, k, []float32{1})
				want := wantOneDNN(refMul(a, w, m, n, k), w, m, n, k, za, osc, bq)
				off := si % 3
				buf, dst := guarded(m*n, off, float32(-3))
				p.MulU8OneDNN(nil, dst, a, m, za, osc, bq)
				checkGuard(t, buf, m*n, off, float32(-3), fmt.Sprintf("m=%d n=%d k=%d", m, n, k))
				for i := range want {
					if math.Float32bits(dst[i]) != math.Float32bits(want[i]) {
						t.Fatalf("m=%d n=%d k=%d bias=%v: dst[%d,%d] = %g, want %g", m, n, k, bq != nil, i/n, i%n, dst[i], want[i])
					}
				}
			}
		})
	}
}

// TestMulU8OneDNNScaled has the product fill the scales range by range, on
// 1 to 3 threads, per tensor and per channel, with and without a bias, and
// wants TestMulU8OneDNN's results from scales the test computes itself:
// sb_j = float32(inv·inv_w_j), osc_j = 1/sb_j, bq_j = bias_j·sb_j.
func TestMulU8OneDNNScaled(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	for _, kern := range kernels() {
		t.Run(kern.name, func(t *testing.T) {
			use(t, kern)
			for si, sh := range shapes() {
				if si%3 != 2 {
					continue
				}
				m, n, k := sh.m, sh.n, sh.k
				a := randU8(r, m*k, kern.maxU8)
				w := randI8(r, n*k)
				invw := []float32{r.Float32()*100 + 1}
				if si%2 == 0 {
					invw = make([]float32, n)
					for j := range invw {
						invw[j] = r.Float32()*100 + 1
					}
				}
				var bias []float32
				if si%4 < 2 {
					bias = make([]float32, n)
					for j := range bias {
						bias[j] = r.Float32()*2 - 1
					}
				}
				sc := OneDNNScales{Inv: r.Float32()*50 + 1, InvW: invw, Bias: bias}
				osc, bq := make([]float32, n), make([]float32, n)
				for j := range n {
					sb := float32(sc.Inv * invw[min(j, len(invw)-1)])
					osc[j] = 1 / sb
					if bias != nil {
						bq[j] = float32(bias[j] * sb)
					}
				}
				if bias == nil {
					bq = nil
				}
				za := int32(r.IntN(129))
				p := Pack(w, n, k, []float32{1})
				want := wantOneDNN(refMul(a, w, m, n, k), w, m, n, k, za, osc, bq)
				for th := 1; th <= 3; th++ {
					buf, dst := guarded(m*n, th, float32(-3))
					gotOsc, gotBq := make([]float32, n), make([]float32, n)
					p.MulU8OneDNNScaled(parallel.NewPool(th), dst, a, m, za, &sc, gotOsc, gotBq)
					what := fmt.Sprintf("m=%d n=%d k=%d per-channel=%v bias=%v threads=%d", m, n, k, len(invw) > 1, bias != nil, th)
					checkGuard(t, buf, m*n, th, float32(-3), what)
					if m > 0 && !slices.Equal(gotOsc, osc) {
						t.Fatalf("%s: osc differs", what)
					}
					for i := range want {
						if math.Float32bits(dst[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s: dst[%d,%d] = %g, want %g", what, i/n, i%n, dst[i], want[i])
						}
					}
				}
			}
		})
	}
}

// TestRequireExactFloat runs the float products of a Packed that must be
// exact for activations up to 255 (an act8 scheme) on every kernel, AVX2's
// two-halves path included, against the tests' own formulas bit for bit.
func TestRequireExactFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	for _, kern := range kernels() {
		t.Run(kern.name, func(t *testing.T) {
			use(t, kern)
			for _, sh := range []struct{ m, n, k int }{{1, 5, 4}, {3, 37, 70}, {7, 130, 33}, {25, 64, 256}} {
				m, n, k := sh.m, sh.n, sh.k
				a := randU8(r, m*k, 255)
				w := randI8(r, n*k)
				scales := []float32{r.Float32()*0.01 + 1e-4}
				bias := make([]float32, n)
				osc := make([]float32, n)
				for j := range bias {
					bias[j] = r.Float32()*2 - 1
					osc[j] = r.Float32()*1e-3 + 1e-6
				}
				p := Pack(w, n, k, scales)
				p.RequireExact(255)
				acc := refMul(a, w, m, n, k)
				dst := make([]float32, m*n)
				p.MulU8Dequant(parallel.NewPool(2), dst, a, m, 0.02, 9, bias)
				for i, v := range wantDequant(acc, w, m, n, k, 0.02, 9, scales, bias) {
					if math.Float32bits(dst[i]) != math.Float32bits(v) {
						t.Fatalf("dequant m=%d n=%d k=%d: [%d] = %g, want %g", m, n, k, i, dst[i], v)
					}
				}
				p.MulU8OneDNN(nil, dst, a, m, 9, osc, bias)
				for i, v := range wantOneDNN(acc, w, m, n, k, 9, osc, bias) {
					if math.Float32bits(dst[i]) != math.Float32bits(v) {
						t.Fatalf("oneDNN m=%d n=%d k=%d: [%d] = %g, want %g", m, n, k, i, dst[i], v)
					}
				}
			}
		})
	}
}
