package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lstmq/lstmq/internal/cpu"
)

// gruInputs returns pre and gates (b×3h), and h (b×h), with a few special
// values when specials is set.
func gruInputs(r *rand.Rand, b, h int, specials bool) (pre, gates, h0 []float32) {
	pre, gates = make([]float32, b*3*h), make([]float32, b*3*h)
	for i := range pre {
		pre[i] = float32(2 * r.NormFloat64())
		gates[i] = float32(2 * r.NormFloat64())
	}
	h0 = randSlice(r, b*h)
	if specials && h > 0 {
		for _, v := range []float32{float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)), 95, -120, 1e-30} {
			pre[r.IntN(len(pre))] = v
			gates[r.IntN(len(gates))] = v
		}
	}
	return pre, gates, h0
}

func gruSizes() []int {
	hs := []int{200, 256, 650}
	for h := 0; h <= 70; h++ {
		hs = append(hs, h)
	}
	return hs
}

// The SIMD σ and tanh are within about 5u (relative for σ, absolute for
// tanh: see lstmTol). n = tanh(pre_n + r·g_n) inherits r's error times
// |g_n|, and h' = (h−n)·z + n carries n's and z's errors times at most
// |h|+2. We allow 16u·(|h|+|g_n|+4).
func gruTol(h, gn float32) float64 {
	return 16 * u32 * (math.Abs(float64(h)) + math.Abs(float64(gn)) + 4)
}

func TestGRUCell(t *testing.T) {
	forEachLevel(t, func(t *testing.T, lv cpu.Level) {
		r := rand.New(rand.NewPCG(51, 52))
		for _, h := range gruSizes() {
			b := 1 + h%3
			pre, gates, h0 := gruInputs(r, b, h, false)
			off := h % 16
			hs, check := guarded(t, b*h, off, h0)
			GRUCell(pre, gates, hs, b, h)
			check()
			want := append([]float32(nil), h0...)
			for rr := range b {
				gruCellRowGeneric(pre[rr*3*h:(rr+1)*3*h], gates[rr*3*h:(rr+1)*3*h], want[rr*h:(rr+1)*h], h)
			}
			for i := range want {
				gn := gates[(i/h)*3*h+2*h+i%h]
				if d := math.Abs(float64(hs[i] - want[i])); !(d <= gruTol(h0[i], gn)) {
					t.Fatalf("b=%d h=%d: h'[%d] = %v, want %v (|Δ| %g)", b, h, i, hs[i], want[i], d)
				}
			}
		}
	})
}

func TestGRUCellTorch(t *testing.T) {
	forEachLevel(t, func(t *testing.T, lv cpu.Level) {
		r := rand.New(rand.NewPCG(53, 54))
		var n int
		for _, h := range gruSizes() {
			for _, block := range []int{TorchBlockAVX2, TorchBlockAVX512} {
				b := 1 + h%3
				pre, gates, h0 := gruInputs(r, b, h, h%4 == 0)
				off := h % 16
				hs, check := guarded(t, b*h, off, h0)
				g := append([]float32(nil), gates...)
				GRUCellTorch(pre, g, hs, b, h, block)
				check()
				// The reference: the same operations on the generic Sleef
				// and glibc functions, element by element.
				for rr := range b {
					p, gg := pre[rr*3*h:(rr+1)*3*h], gates[rr*3*h:(rr+1)*3*h]
					rs, zs := make([]float32, h), make([]float32, h)
					for j := range h {
						rs[j], zs[j] = gg[j]+p[j], gg[h+j]+p[h+j]
					}
					sigmoidTorchGeneric(rs, rs, block)
					sigmoidTorchGeneric(zs, zs, block)
					for j := range h {
						m := sleefTanhf(p[2*h+j] + float32(gg[2*h+j]*rs[j]))
						hv := h0[rr*h+j]
						want := float32((hv-m)*zs[j]) + m
						if got := hs[rr*h+j]; math.Float32bits(got) != math.Float32bits(want) {
							t.Fatalf("b=%d h=%d block=%d row %d col %d: h' = %#08x, want %#08x", b, h, block, rr, j,
								math.Float32bits(got), math.Float32bits(want))
						}
						n++
					}
				}
			}
		}
		t.Logf("%d cells bit-exact", n)
	})
}

func TestReLU(t *testing.T) {
	forEachLevel(t, func(t *testing.T, lv cpu.Level) {
		r := rand.New(rand.NewPCG(55, 56))
		for n := 0; n <= 70; n++ {
			x := randSlice(r, n)
			if n > 3 {
				x[1], x[2] = float32(math.NaN()), float32(math.Inf(-1))
			}
			dst, check := guarded(t, n, n%16, nil)
			ReLU(dst, x)
			check()
			for i, v := range x {
				want := v
				if v <= 0 {
					want = 0
				}
				if got := dst[i]; got != want && !(v != v && got != got) {
					t.Fatalf("n=%d: relu(%v) = %v, want %v", n, v, got, want)
				}
			}
			ReLU(x, x) // in place
			for i := range x {
				if x[i] != dst[i] && !(x[i] != x[i] && dst[i] != dst[i]) {
					t.Fatalf("n=%d: in-place relu differs at %d", n, i)
				}
			}
		}
	})
}

func TestGRUAllocs(t *testing.T) {
	forEachLevel(t, func(t *testing.T, lv cpu.Level) {
		r := rand.New(rand.NewPCG(57, 58))
		const h = 203
		pre, gates, hs := gruInputs(r, 2, h, false)
		if got := testing.AllocsPerRun(10, func() {
			GRUCell(pre, gates, hs, 2, h)
			GRUCellTorch(pre, gates, hs, 2, h, TorchBlockAVX2)
			ReLU(hs, hs)
		}); got != 0 {
			t.Errorf("%v allocations per GRUCell+GRUCellTorch+ReLU, want 0", got)
		}
	})
}

func BenchmarkGRUCell(b *testing.B) {
	defer func(old cpu.Level) { impl = old }(impl)
	r := rand.New(rand.NewPCG(59, 60))
	for _, lv := range levels() {
		impl = lv
		for _, h := range []int{256, 650} {
			pre, gates, hs := gruInputs(r, 1, h, false)
			b.Run(cpuShape(lv, h), func(b *testing.B) {
				b.SetBytes(int64(4 * 7 * h))
				b.ReportAllocs()
				for b.Loop() {
					GRUCell(pre, gates, hs, 1, h)
				}
			})
			b.Run("torch/"+cpuShape(lv, h), func(b *testing.B) {
				g := append([]float32(nil), gates...)
				b.SetBytes(int64(4 * 7 * h))
				b.ReportAllocs()
				for b.Loop() {
					copy(g, gates)
					GRUCellTorch(pre, g, hs, 1, h, TorchBlockAVX2)
				}
			})
		}
	}
}

func cpuShape(lv cpu.Level, h int) string { return fmt.Sprintf("cpu=%v/shape=b1h%d", lv, h) }
