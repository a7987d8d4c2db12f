package q8

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lstmq/lstmq/internal/parallel"
)

// wantBlocks is the test's own statement of the block-scaled arithmetic,
// from W row-major: per block the exact sum minus za·(the block's row sum)
// in int64 (then wrapped to int32, as the kernels' int32 sums wrap), then
// s = x·scale + s rounded once (exactFMA32, big.Float), s starting at +0,
// blocks in order; at the end s·sa + bias rounded once (bias nil: +0).
func wantBlocks(a []uint8, w []int8, m, n, k, block int, sa float32, za int32, scales, bias []float32) []float32 {
	nb := (k + block - 1) / block
	out := make([]float32, m*n)
	for i := range m {
		for j := range n {
			var s, bj float32
			for b := range nb {
				var acc, rs int64
				for p := b * block; p < min((b+1)*block, k); p++ {
					acc += int64(a[i*k+p]) * int64(w[j*k+p])
					rs += int64(w[j*k+p])
				}
				x := int32(acc - int64(za)*rs)
				s = exactFMA32(float32(x), scales[j*nb+b], s)
			}
			if bias != nil {
				bj = bias[j]
			}
			out[i*n+j] = exactFMA32(s, sa, bj)
		}
	}
	return out
}

func randScales(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*0.01 + 1e-4
	}
	return s
}

func randBias(r *rand.Rand, n int) []float32 {
	b := make([]float32, n)
	for i := range b {
		b[i] = r.Float32()*2 - 1
	}
	return b
}

// blockShapes sweeps m around the kernels' row counts, n around the
// 16- and 64-column tiles, and k around the block edges (whole blocks, a
// short last block, a last block shorter than a quad, k%4 tails) and the
// edges of the kernel calls (blockChunk).
func blockShapes(block int) []shape {
	var s []shape
	ks := []int{1, 3, 4, 5, block - 1, block, block + 1, block + 3, block + 4, 2*block - 4, 2 * block, 2*block + 2, 3*block + 5, 4 * block}
	for ki, k := range ks {
		if k < 1 {
			continue
		}
		for _, n := range []int{1, 15, 16, 17, 63, 64, 65, 129} {
			s = append(s, shape{1 + (ki+n)%7, n, k})
		}
	}
	for _, m := range []int{1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 25} {
		s = append(s, shape{m, 80, 2*block + 3}, shape{m, 130, 3 * block})
	}
	// Around the edges of the calls of blockChunk inputs.
	for ki, k := range []int{blockChunk - 1, blockChunk, blockChunk + 2, blockChunk + 5, 2 * blockChunk, 2*blockChunk + 7, 650} {
		for _, n := range []int{17, 64, 65} {
			s = append(s, shape{1 + (ki+n)%8, n, k})
		}
	}
	s = append(s, shape{13, 65, 2*blockChunk + 3})
	return s
}

// TestMulBlocks compares every kernel's block-scaled product with the
// test's own loop bit for bit: the int32 sums are exact and every variant
// performs the same float32 operations (one conversion, one product, one
// fused multiply-add per block) in the same order. Outputs sit in guard
// bands; za ≠ 0; with and without a bias.
func TestMulBlocks(t *testing.T) {
	testMulBlocks(t, true)
}

// TestMulBlocksIntegerKernels runs TestMulBlocks with the block-scaled
// kernels off: the integer tile kernels, block by block, and the Go
// epilogue (the arm64 path).
func TestMulBlocksIntegerKernels(t *testing.T) {
	blockFused = false
	defer func() { blockFused = true }()
	testMulBlocks(t, false)
}

func testMulBlocks(t *testing.T, fusedOn bool) {
	r := rand.New(rand.NewPCG(21, 22))
	ks := kernels()
	for _, block := range []int{4, 8, 12, 32, 64, 9, 30} {
		for si, sh := range blockShapes(block) {
			m, n, k := sh.m, sh.n, sh.k
			nb := (k + block - 1) / block
			// Activations up to 128 every kernel sums exactly, or up to
			// 255 with RequireExact (AVX2's split variant).
			maxA := uint8(128)
			if si%3 == 1 {
				maxA = 255
			}
			a := randU8(r, m*k, maxA)
			w := randI8(r, n*k)
			scales := randScales(r, n*nb)
			var bias []float32
			if si%2 == 0 {
				bias = randBias(r, n)
			}
			sa := r.Float32()*0.05 + 1e-3
			za := int32(r.IntN(256))
			p := PackBlocks(slices.Clone(w), n, k, block, scales)
			p.RequireExact(maxA)
			want := wantBlocks(a, w, m, n, k, block, sa, za, scales, bias)
			for _, kern := range ks {
				what := fmt.Sprintf("%s: block %d m=%d n=%d k=%d bias=%v maxA=%d", kern.name, block, m, n, k, bias != nil, maxA)
				asm := block%4 == 0 && k >= 4 && kern.asm != 0
				if fused := asm && fusedOn && kern.blocks; p.blockKernel(kern) != fused {
					t.Fatalf("%s: blockKernel = %v, want %v", what, !fused, fused)
				}
				if intk := asm && maxA <= kern.maxU8; !fusedOn && p.blockMulKernel(kern) != intk {
					t.Fatalf("%s: blockMulKernel = %v, want %v", what, !intk, intk)
				}
				off := si % 3
				buf, dst := guarded(m*n, off, float32(-3))
				old := impl
				impl = kern
				p.MulU8Dequant(nil, dst, a, m, sa, za, bias)
				impl = old
				checkGuard(t, buf, m*n, off, float32(-3), what)
				for i := range want {
					if math.Float32bits(dst[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s: dst[%d,%d] = %g, want %g", what, i/n, i%n, dst[i], want[i])
					}
				}
			}
		}
	}
}

// TestMulBlocksExtremes drives the int32 sums and the float chain to their
// limits: activations at the kernel's maximum, weights all −128 or 127,
// blocks up to 4096 inputs (sums near ±2^26), za 255, and scales spanning
// float32's range so that the products and sums round in every binade.
func TestMulBlocksExtremes(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, kern := range kernels() {
		t.Run(kern.name, func(t *testing.T) {
			use(t, kern)
			t.Cleanup(func() { blockFused = true })
			for _, fused := range []bool{true, false} {
				blockFused = fused
				mulBlocksExtremes(t, r)
			}
		})
	}
}

// mulBlocksExtremes is TestMulBlocksExtremes on the active kernel.
func mulBlocksExtremes(t *testing.T, r *rand.Rand) {
	for _, sh := range []struct{ m, n, k, block int }{{7, 70, 650, 64}, {3, 65, 4096 + 12, 4096}, {6, 64, 8192, 2048}} {
		for _, wv := range []int8{-128, 127, 0} {
			m, n, k, block := sh.m, sh.n, sh.k, sh.block
			nb := (k + block - 1) / block
			a := make([]uint8, m*k)
			for i := range a {
				a[i] = impl.maxU8
			}
			w := make([]int8, n*k)
			for i := range w {
				w[i] = wv
				if wv == 0 {
					w[i] = int8(r.IntN(256) - 128)
				}
			}
			scales := make([]float32, n*nb)
			for i := range scales {
				scales[i] = float32(math.Ldexp(1+r.Float64(), r.IntN(200)-130))
			}
			bias := randBias(r, n)
			p := PackBlocks(w, n, k, block, scales)
			want := wantBlocks(a, w, m, n, k, block, 0.75, 255, scales, bias)
			dst := make([]float32, m*n)
			p.MulU8Dequant(nil, dst, a, m, 0.75, 255, bias)
			for i := range want {
				if math.Float32bits(dst[i]) != math.Float32bits(want[i]) {
					t.Fatalf("fused=%v m=%d n=%d k=%d block %d w=%d: dst[%d] = %g, want %g", blockFused, m, n, k, block, wv, i, dst[i], want[i])
				}
			}
		}
	}
}

// TestMulBlocksRequireExact runs activations up to 255 through a Packed
// that requires them: a kernel exact only up to 128 (AVX2) runs its split
// variant, and every kernel gives the exact result.
func TestMulBlocksRequireExact(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	m, n, k, block := 9, 70, 100, 32
	nb := (k + block - 1) / block
	for _, kern := range kernels() {
		t.Run(kern.name, func(t *testing.T) {
			use(t, kern)
			a := make([]uint8, m*k)
			for i := range a {
				a[i] = 255 - uint8(r.IntN(8))
			}
			w := make([]int8, n*k)
			for i := range w {
				w[i] = -128 + int8(r.IntN(2)) // pair sums far past int16
			}
			scales := randScales(r, n*nb)
			bias := randBias(r, n)
			p := PackBlocks(w, n, k, block, scales)
			p.RequireExact(255)
			if kern.blockSplit && !(p.blockKernel(kern) && p.blockSplit(kern)) {
				t.Fatal("the split block kernel does not run")
			}
			want := wantBlocks(a, w, m, n, k, block, 0.02, 7, scales, bias)
			dst := make([]float32, m*n)
			p.MulU8Dequant(parallel.NewPool(2), dst, a, m, 0.02, 7, bias)
			for i := range want {
				if math.Float32bits(dst[i]) != math.Float32bits(want[i]) {
					t.Fatalf("dst[%d,%d] = %g, want %g", i/n, i%n, dst[i], want[i])
				}
			}
		})
	}
}

// TestMulBlocksThreads checks that the block-scaled result does not depend
// on the thread count.
func TestMulBlocksThreads(t *testing.T) {
	r := rand.New(rand.NewPCG(27, 28))
	m, n, k, block := 25, 1000, 200, 32
	a, w := randU8(r, m*k, MaxExactU8()), randI8(r, n*k)
	p := PackBlocks(w, n, k, block, randScales(r, n*((k+block-1)/block)))
	bias := randBias(r, n)
	var first []float32
	for _, th := range []int{1, 2, 3} {
		d := make([]float32, m*n)
		p.MulU8Dequant(parallel.NewPool(th), d, a, m, 0.02, 3, bias)
		if first == nil {
			first = d
			continue
		}
		if !slices.Equal(d, first) {
			t.Fatalf("threads=%d: result differs from one thread's", th)
		}
	}
}

// TestPackBlocksAccessors checks that a block-packed matrix gives back W,
// its scales and the row sums of every block, for sizes around the panel
// (16 rows), tile (64 rows) and quad (4 inputs) edges and short last
// blocks.
func TestPackBlocksAccessors(t *testing.T) {
	r := rand.New(rand.NewPCG(29, 30))
	for _, n := range []int{0, 1, 15, 16, 17, 63, 64, 65, 130} {
		for _, k := range []int{0, 1, 3, 8, 9, 33, 70} {
			for _, block := range []int{1, 4, 8, 9, 32, 100} {
				nb := (k + block - 1) / block
				w := randI8(r, n*k)
				scales := randScales(r, n*nb)
				p := PackBlocks(slices.Clone(w), n, k, block, scales)
				if p.Rows() != n || p.Cols() != k || p.Block() != block {
					t.Fatalf("n=%d k=%d block %d: Rows, Cols, Block = %d, %d, %d", n, k, block, p.Rows(), p.Cols(), p.Block())
				}
				if !slices.Equal(p.Weights(), w) || !slices.Equal(p.Scales(), scales) {
					t.Fatalf("n=%d k=%d block %d: Weights or Scales differ from the matrix given", n, k, block)
				}
				rs := p.BlockRowSums()
				if len(rs) != n*nb {
					t.Fatalf("n=%d k=%d block %d: %d block row sums, want %d", n, k, block, len(rs), n*nb)
				}
				for j := range n {
					for b := range nb {
						var s int32
						for q := b * block; q < min((b+1)*block, k); q++ {
							s += int32(w[j*k+q])
						}
						if rs[j*nb+b] != s {
							t.Fatalf("n=%d k=%d block %d: row sum (%d, %d) = %d, want %d", n, k, block, j, b, rs[j*nb+b], s)
						}
					}
				}
			}
		}
	}
	if Pack([]int8{1, 2}, 1, 2, []float32{1}).BlockRowSums() != nil {
		t.Error("BlockRowSums of a Pack matrix is not nil")
	}
	// A small case written out: W = [1 −2 3 | 127 −128 0], block 2.
	p := PackBlocks([]int8{1, -2, 3, 127, -128, 0}, 2, 3, 2, []float32{1, 2, 3, 4})
	if got := p.BlockRowSums(); !slices.Equal(got, []int32{-1, 3, -1, 0}) {
		t.Errorf("BlockRowSums = %v, want [-1 3 -1 0]", got)
	}
	// One row: a = [2 1 1], sa = 1, za = 1, scales 1 and 2, bias 0.5:
	// block 0: 2·1 + 1·(−2) − 1·(−1) = 1 → 0.5 + 1·1 = 1.5;
	// block 1: 1·3 − 1·3 = 0 → 1.5.
	d := make([]float32, 2)
	p.MulU8Dequant(nil, d, []uint8{2, 1, 1}, 1, 1, 1, []float32{0.5, 0})
	// Row 1: block 0: 2·127 − 128 + 1 = 127 → 127·3 = 381; block 1: 0 − 0 → 381.
	if d[0] != 1.5 || d[1] != 381 {
		t.Errorf("MulU8Dequant = %v, want [1.5 381]", d)
	}
	// No inputs: no blocks, the bias alone (+0 without one).
	p = PackBlocks(nil, 2, 0, 8, nil)
	p.MulU8Dequant(nil, d, nil, 1, 1, 3, []float32{0.25, -2})
	if d[0] != 0.25 || d[1] != -2 {
		t.Errorf("k=0: MulU8Dequant = %v, want [0.25 -2]", d)
	}
	p.MulU8Dequant(nil, d, nil, 1, 1, 3, nil)
	if math.Float32bits(d[0]) != 0 || math.Float32bits(d[1]) != 0 {
		t.Errorf("k=0, no bias: MulU8Dequant = %v, want [+0 +0]", d)
	}
}

// TestMulBlocksAllocs checks that block-scaled products allocate nothing,
// on one thread and on two.
func TestMulBlocksAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	r := rand.New(rand.NewPCG(31, 32))
	m, n, k, block := 13, 1000, 258, 32
	a, w := randU8(r, m*k, 127), randI8(r, n*k)
	p := PackBlocks(w, n, k, block, randScales(r, n*((k+block-1)/block)))
	dst, bias := make([]float32, m*n), make([]float32, n)
	pool := parallel.NewPool(2)
	for _, kern := range kernels() {
		use(t, kern)
		run := func() {
			p.MulU8Dequant(nil, dst, a, m, 0.1, 3, bias)
			p.MulU8Dequant(pool, dst, a, 1, 0.1, 3, nil)
		}
		run()
		if got := testing.AllocsPerRun(3, run); got != 0 {
			t.Errorf("%s: %v allocations per call, want 0", kern.name, got)
		}
	}
}

// FuzzMulBlocks compares every kernel's block-scaled product with the
// test's loop on fuzzed shapes, block sizes and values.
func FuzzMulBlocks(f *testing.F) {
	f.Add(uint8(3), uint16(70), uint16(33), uint8(8), uint64(1))
	f.Add(uint8(7), uint16(64), uint16(100), uint8(32), uint64(2))
	f.Fuzz(func(t *testing.T, m8 uint8, n16, k16 uint16, b8 uint8, seed uint64) {
		m, n, k, block := int(m8%20), int(n16%200), int(k16%300), 1+int(b8%80)
		r := rand.New(rand.NewPCG(seed, 0))
		nb := (k + block - 1) / block
		w := randI8(r, n*k)
		scales := randScales(r, n*nb)
		bias := randBias(r, n)
		p := PackBlocks(slices.Clone(w), n, k, block, scales)
		for _, kern := range kernels() {
			a := randU8(r, m*k, kern.maxU8)
			want := wantBlocks(a, w, m, n, k, block, 0.01, 5, scales, bias)
			old := impl
			impl = kern
			dst := make([]float32, m*n)
			p.MulU8Dequant(nil, dst, a, m, 0.01, 5, bias)
			impl = old
			for i := range want {
				if math.Float32bits(dst[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s m=%d n=%d k=%d block %d: dst[%d] = %g, want %g", kern.name, m, n, k, block, i, dst[i], want[i])
				}
			}
		}
	})
}
