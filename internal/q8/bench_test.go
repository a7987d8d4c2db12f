package q8

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/lstmq/lstmq/internal/parallel"
)

// benchShapes are the products of the word-level LSTM language model:
// the decoder (vocabulary 33278), the LSTM input projections and the
// recurrent product.
var benchShapes = []shape{
	{25, 33278, 256}, // decoder, 25 time steps
	{1, 33278, 256},  // decoder, one step
	{25, 33278, 200},
	{25, 33278, 650},
	{25, 1024, 512}, // LSTM input projection
	{25, 1024, 256},
	{1, 1024, 256}, // LSTM recurrent product
}

func shapeName(s shape) string { return fmt.Sprintf("m=%d,n=%d,k=%d", s.m, s.n, s.k) }

func gops(b *testing.B, s shape) {
	b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOP/s")
}

// BenchmarkMulU8Dequant runs the fused product on one thread for every
// kernel this machine has. SetBytes counts the weights read per call.
func BenchmarkMulU8Dequant(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, s := range benchShapes {
		a, w := randU8(r, s.m*s.k, 127), randI8(r, s.n*s.k)
		p := Pack(w, s.n, s.k, []float32{0.01})
		dst, bias := make([]float32, s.m*s.n), make([]float32, s.n)
		for _, kern := range kernels() {
			if kern == generic && s.n > 2000 && s.m > 1 {
				continue // minutes at the reference's speed
			}
			b.Run("kernel="+kern.name+"/shape="+shapeName(s), func(b *testing.B) {
				use(b, kern)
				b.SetBytes(int64(s.n * s.k))
				b.ReportAllocs()
				for b.Loop() {
					p.MulU8Dequant(nil, dst, a, s.m, 0.02, 5, bias)
				}
				gops(b, s)
			})
		}
	}
}

// BenchmarkMulF32Naive is the naive float32 loop the int8 kernels are
// measured against (the plain Go product with bias, one thread).
func BenchmarkMulF32Naive(b *testing.B) {
	for _, s := range benchShapes {
		if s.n > 2000 && s.m > 1 {
			continue
		}
		x, w := make([]float32, s.m*s.k), make([]float32, s.n*s.k)
		dst, bias := make([]float32, s.m*s.n), make([]float32, s.n)
		b.Run("shape="+shapeName(s), func(b *testing.B) {
			b.SetBytes(int64(4 * s.n * s.k))
			for b.Loop() {
				for i := range s.m {
					xr := x[i*s.k : (i+1)*s.k]
					for j := range s.n {
						wr := w[j*s.k : (j+1)*s.k]
						sum := bias[j]
						for p, v := range xr {
							sum += v * wr[p]
						}
						dst[i*s.n+j] = sum
					}
				}
			}
			gops(b, s)
		})
	}
}

func BenchmarkQuantizeU8(b *testing.B) {
	for _, n := range []int{256, 25 * 512} {
		x, dst := make([]float32, n), make([]uint8, n)
		for i := range x {
			x[i] = float32(i%100) - 50
		}
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.SetBytes(int64(4 * n))
			b.ReportAllocs()
			for b.Loop() {
				lo, hi := MinMax(x)
				QuantizeU8(dst, x, 255/(hi-lo), 3, 255)
			}
		})
	}
}

// BenchmarkMulBlocks compares the block-scaled product (PackBlocks) with
// the per-tensor one (Pack) on the decoder and LSTM shapes, on one thread,
// for every assembly kernel this machine has: scales=tensor is
// MulU8Dequant on Pack, scales=blockB on PackBlocks with blocks of B
// inputs. SetBytes counts the int8 weights read per call.
func BenchmarkMulBlocks(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	for _, nk := range [][2]int{{33278, 256}, {1024, 256}, {1024, 512}} {
		n, k := nk[0], nk[1]
		w := randI8(r, n*k)
		packs := []struct {
			name string
			p    *Packed
		}{
			{"tensor", Pack(w, n, k, []float32{0.01})},
			{"block32", PackBlocks(w, n, k, 32, randScales(r, n*(k/32)))},
			{"block64", PackBlocks(w, n, k, 64, randScales(r, n*(k/64)))},
		}
		bias := make([]float32, n)
		for _, m := range []int{1, 20, 350} {
			s := shape{m, n, k}
			a := randU8(r, m*k, 127)
			dst := make([]float32, m*n)
			for _, kern := range kernels()[1:] {
				for _, pk := range packs {
					b.Run("kernel="+kern.name+"/shape="+shapeName(s)+"/scales="+pk.name, func(b *testing.B) {
						use(b, kern)
						b.SetBytes(int64(n * k))
						b.ReportAllocs()
						for b.Loop() {
							pk.p.MulU8Dequant(nil, dst, a, m, 0.02, 5, bias)
						}
						gops(b, s)
					})
				}
			}
		}
	}
}

// BenchmarkMulU8OneDNNThreads runs the onednn product, scales filled by the
// product, on the dispatched kernel at 1 and 2 threads: the batch-1 shapes
// of generation, where a second core must pay for its hand-offs.
func BenchmarkMulU8OneDNNThreads(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range []shape{{1, 33278, 256}, {1, 1024, 256}, {25, 33278, 256}} {
		a, w := randU8(r, s.m*s.k, 127), randI8(r, s.n*s.k)
		p := Pack(w, s.n, s.k, []float32{0.01})
		dst, bias, osc, bq := make([]float32, s.m*s.n), make([]float32, s.n), make([]float32, s.n), make([]float32, s.n)
		sc := OneDNNScales{Inv: 50, InvW: []float32{100}, Bias: bias}
		for _, th := range []int{1, 2} {
			pool := parallel.NewPool(th)
			b.Run(fmt.Sprintf("threads=%d/shape=%s", th, shapeName(s)), func(b *testing.B) {
				b.SetBytes(int64(s.n * s.k))
				b.ReportAllocs()
				for b.Loop() {
					p.MulU8OneDNNScaled(pool, dst, a, s.m, 5, &sc, osc, bq)
				}
				gops(b, s)
			})
		}
	}
}
