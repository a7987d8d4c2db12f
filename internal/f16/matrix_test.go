package f16

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lstmq/lstmq/internal/cpu/cputest"
	"github.com/lstmq/lstmq/internal/f32"
	"github.com/lstmq/lstmq/internal/parallel"
)

const guard = 16

var sentinel = math.Float32frombits(0x7fc0_1234) // a NaN payload no kernel produces

// refProduct is the test's own loop over row-major bits: the order the
// package doc defines, one FMA32 per input.
func refProduct(f Format, w []uint16, n, k int, x []float32, m int, dst0, bias []float32, mode int) []float32 {
	out := append([]float32(nil), dst0...)
	for i := range m {
		for j := range n {
			var s float32
			for p := range k {
				s = f32.FMA32(x[i*k+p], f.ToFloat32(w[j*k+p]), s)
			}
			switch mode {
			case modeStore:
				out[i*n+j] = s
			case modeBias:
				out[i*n+j] = s + bias[j]
			default:
				out[i*n+j] += s
			}
		}
	}
	return out
}

func randWeights(r *rand.Rand, f Format, n int) []uint16 {
	w := make([]uint16, n)
	for i := range w {
		v := float32(r.NormFloat64() * 0.3)
		if i%13 == 7 {
			v *= 40 // a few large weights
		}
		w[i] = f.FromFloat32(v)
	}
	return w
}

// TestMatrixExact compares every implementation with the reference, bit for
// bit, on sizes around the panel (16), tile (1, 2, 6 rows; 1, 2, 4
// panels), unroll (4) and thread-grain (128) edges, with guard bands around
// dst and x starting off a vector boundary.
func TestMatrixExact(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ms := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 25}
	ns := []int{0, 1, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 129, 200}
	ks := []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 33, 64}
	if testing.Short() {
		ms, ns, ks = []int{1, 2, 3, 7}, []int{1, 17, 65}, []int{1, 5, 33}
	}
	pool := parallel.NewPool(3)
	cputest.Each(t, Kernels, func(t *testing.T) {
		for _, f := range []Format{FP16, BF16} {
			for _, n := range ns {
				for _, k := range ks {
					w := randWeights(r, f, n*k)
					a := NewMatrix(w, n, k, f)
					bias := make([]float32, n)
					for j := range bias {
						bias[j] = float32(r.NormFloat64())
					}
					for _, m := range ms {
						xbuf := make([]float32, m*k+1)
						x := xbuf[1:] // off the 32-byte boundary
						for i := range x {
							x[i] = float32(r.NormFloat64())
						}
						for mode := modeStore; mode <= modeAdd; mode++ {
							buf := make([]float32, m*n+2*guard)
							for i := range buf {
								buf[i] = sentinel
							}
							dst := buf[guard : guard+m*n]
							for i := range dst {
								dst[i] = float32(r.NormFloat64())
							}
							want := refProduct(f, w, n, k, x, m, dst, bias, mode)
							var p *parallel.Pool
							if n > 128 {
								p = pool
							}
							switch mode {
							case modeStore:
								a.Mul(p, dst, x, m, nil)
							case modeBias:
								a.Mul(p, dst, x, m, bias)
							default:
								a.MulAdd(p, dst, x, m)
							}
							for i, v := range buf {
								if (i < guard || i >= guard+m*n) && math.Float32bits(v) != math.Float32bits(sentinel) {
									t.Fatalf("%s m=%d n=%d k=%d mode %d: wrote outside dst at %d", f, m, n, k, mode, i-guard)
								}
							}
							for i, v := range dst {
								if math.Float32bits(v) != math.Float32bits(want[i]) {
									t.Fatalf("%s m=%d n=%d k=%d mode %d: dst[%d] = %g, want %g", f, m, n, k, mode, i, v, want[i])
								}
							}
						}
					}
				}
			}
		}
	})
}

// TestMatrixBits checks the packing round trip and the conversion to float32.
func TestMatrixBits(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, f := range []Format{FP16, BF16} {
		for _, sz := range [][2]int{{0, 0}, {1, 1}, {17, 3}, {33, 200}} {
			n, k := sz[0], sz[1]
			w := randWeights(r, f, n*k)
			a := NewMatrix(w, n, k, f)
			got := a.Bits()
			for i := range w {
				if got[i] != w[i] {
					t.Fatalf("%s %d×%d: Bits()[%d] = %#04x, want %#04x", f, n, k, i, got[i], w[i])
				}
			}
			for i, v := range a.Float32() {
				if v != f.ToFloat32(w[i]) {
					t.Fatalf("%s: Float32()[%d] = %g", f, i, v)
				}
			}
		}
	}
	fw := []float32{1, 1e6, -1e6, 0.1}
	a := Round(fw, 2, 2, FP16)
	if got := a.Float32(); got[1] != MaxFP16 || got[2] != -MaxFP16 || got[3] != ToFloat32(FromFloat32(0.1)) {
		t.Errorf("Round(FP16) = %v, want saturated at ±65504", got)
	}
}

func BenchmarkMul(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, f := range []Format{FP16, BF16} {
		for _, sh := range [][3]int{{1, 800, 200}, {25, 800, 200}, {25, 33278, 200}} {
			m, n, k := sh[0], sh[1], sh[2]
			a := NewMatrix(randWeights(r, f, n*k), n, k, f)
			x := make([]float32, m*k)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			dst := make([]float32, m*n)
			b.Run(fmt.Sprintf("%s/shape=%dx%dx%d", f, m, n, k), func(b *testing.B) {
				b.SetBytes(int64(2 * n * k))
				b.ReportAllocs()
				for b.Loop() {
					a.Mul(nil, dst, x, m, nil)
				}
			})
		}
	}
}
