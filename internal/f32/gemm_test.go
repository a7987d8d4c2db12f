package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lstmq/lstmq/internal/cpu"
	"github.com/lstmq/lstmq/internal/parallel"
)

// TestGemm compares MulNN and MulTN, on both paths and with 1 and 3
// threads, with float64 reference loops over sizes around the block edges
// (rowBlock 4, redBlock 128, the kernels' 16-column panels), with guard
// bands after dst to catch writes past the end.
func TestGemm(t *testing.T) {
	defer func(v cpu.Level) { impl = v }(impl)
	rng := rand.New(rand.NewPCG(1, 2))
	rnd := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
		return s
	}
	const guard = 16
	sizes := [][3]int{{0, 3, 4}, {1, 1, 1}, {3, 5, 7}, {4, 128, 16}, {5, 129, 17}, {9, 127, 33}, {13, 257, 3}, {2, 300, 200}, {7, 40, 0}}
	var s GEMM
	for _, kernels := range []bool{true, false} {
		for _, threads := range []int{1, 3} {
			setSIMD(kernels)
			s.Pool = parallel.NewPool(threads)
			for _, sz := range sizes {
				m, n, k := sz[0], sz[1], sz[2]
				for _, acc := range []bool{false, true} {
					name := fmt.Sprintf("kernels=%v/threads=%d/m=%d,n=%d,k=%d/acc=%v", kernels, threads, m, n, k, acc)
					// mulNN: dst (m×k) (+)= a (m×n) · b (n×k).
					a, b := rnd(m*n), rnd(n*k)
					dst := rnd(m*k + guard)
					want := make([]float64, m*k)
					for i := range m {
						for p := range k {
							v := 0.0
							if acc {
								v = float64(dst[i*k+p])
							}
							for j := range n {
								v += float64(a[i*n+j]) * float64(b[j*k+p])
							}
							want[i*k+p] = v
						}
					}
					g := append([]float32(nil), dst[m*k:]...)
					s.MulNN(dst[:m*k+guard], a, b, m, n, k, acc)
					check(t, "mulNN/"+name, dst, want, g, n)
					// mulTN: dst (n×k) (+)= aᵀ·b, a m×n, b m×k.
					b = rnd(m * k)
					dst = rnd(n*k + guard)
					want = make([]float64, n*k)
					for j := range n {
						for p := range k {
							v := 0.0
							if acc {
								v = float64(dst[j*k+p])
							}
							for i := range m {
								v += float64(a[i*n+j]) * float64(b[i*k+p])
							}
							want[j*k+p] = v
						}
					}
					g = append([]float32(nil), dst[n*k:]...)
					s.MulTN(dst[:n*k+guard], a, b, m, n, k, acc)
					check(t, "mulTN/"+name, dst, want, g, m)
				}
			}
		}
	}
}

// check compares dst with want, and checks the guard band. Each output is
// a float32 sum of red products of unit normals: the partial sums are
// ~√red in size and their red roundings (each ≤ ε = 6e-8 of a partial sum)
// add up like a random walk to ~ε·√red·√red = 6e-8·red. The bound
// 1e-6·red + 1e-6 leaves a factor ~16 for that, while a missed or doubled
// term is off by ~1.
func check(t *testing.T, name string, dst []float32, want []float64, guard []float32, red int) {
	t.Helper()
	for i, w := range want {
		if d := math.Abs(float64(dst[i]) - w); d > 1e-6*float64(red)+1e-6 {
			t.Errorf("%s: [%d] = %v, want %v", name, i, dst[i], w)
			return
		}
	}
	for i, v := range guard {
		if dst[len(want)+i] != v {
			t.Errorf("%s: wrote past the end at +%d", name, i)
			return
		}
	}
}

func TestTranspose(t *testing.T) {
	for _, m := range []int{0, 1, 7, 8, 9, 17, 70} {
		for _, k := range []int{0, 1, 5, 63, 64, 65, 130} {
			a := make([]float32, m*k)
			for i := range a {
				a[i] = float32(i)
			}
			d := Transpose(nil, nil, a, m, k)
			for i := range m {
				for p := range k {
					if d[p*m+i] != a[i*k+p] {
						t.Fatalf("m=%d k=%d: [%d][%d] = %v, want %v", m, k, p, i, d[p*m+i], a[i*k+p])
					}
				}
			}
		}
	}
}

func BenchmarkTranspose(b *testing.B) {
	const m, k = 700, 18328 // dlogits of a chunk of 35×20 over wikitext-2's valid+test vocabulary
	a := make([]float32, m*k)
	d := make([]float32, m*k)
	b.SetBytes(int64(8 * m * k))
	b.ReportAllocs()
	for b.Loop() {
		d = Transpose(nil, d, a, m, k)
	}
}

// BenchmarkDecoderBackward times the decoder's two backward products for a
// chunk of 35×20 rows, nhid 200 and a vocabulary of 10000, on both paths.
func BenchmarkDecoderBackward(b *testing.B) {
	defer func(v cpu.Level) { impl = v }(impl)
	const m, n, k = 700, 10000, 200
	dy := make([]float32, m*n)
	w := make([]float32, n*k)
	x := make([]float32, m*k)
	for i := range dy {
		dy[i] = float32(i%7) - 3
	}
	for i := range w {
		w[i] = float32(i%5) - 2
	}
	dw := make([]float32, n*k)
	dx := make([]float32, m*k)
	for _, kernels := range []bool{true, false} {
		b.Run(fmt.Sprintf("kernels=%v/shape=%dx%dx%d", kernels, m, n, k), func(b *testing.B) {
			setSIMD(kernels)
			var s GEMM
			b.SetBytes(2 * 2 * m * n * k) // flops of the two products, as "bytes": MB/s reads as Mflop/s
			b.ReportAllocs()
			for b.Loop() {
				s.MulTN(dw, dy, x, m, n, k, false)
				s.MulNN(dx, dy, w, m, n, k, false)
			}
		})
	}
}

// setSIMD selects the best SIMD level this CPU runs, or the reference.
func setSIMD(on bool) {
	impl = cpu.Generic
	if av := levels(); on {
		impl = av[len(av)-1]
	}
}
