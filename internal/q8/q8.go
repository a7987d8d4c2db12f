package q8

import (
	"sync"

	"github.com/lstmq/lstmq/internal/cpu"
	"github.com/lstmq/lstmq/internal/f32"
	"github.com/lstmq/lstmq/internal/parallel"
)

// tileMax is the widest column tile of any kernel and the unit n is padded
// to in the packed layout; rowsMax is the most rows any kernel takes per call.
const (
	tileMax = 64
	rowsMax = 6
)

// kernel is one GEMM implementation.
type kernel struct {
	name  string
	cols  int   // columns per call (a multiple of 16 dividing tileMax)
	rows  int   // most rows per call (≤ rowsMax)
	maxU8 uint8 // largest activation for which the kernel is exact
	asm   int   // which assembly kernel (q8_amd64.go); 0: the reference

	blocks     bool // it has a block-scaled kernel (deqBlocks, prepBlocks)
	blockSplit bool // … and a variant of it exact for every activation
}

// The assembly kernels are called directly (kernel.mul, kernel.deq, switch
// on asm) rather than through func values, so that escape analysis sees
// their //go:noescape and stack scratch tiles stay on the stack.

var generic = &kernel{name: "generic", maxU8: 255}

// impl is the GEMM kernel in use; vecQuant selects the vectorized
// QuantizeU8 and MinMax. Kernels sets both; tests swap them.
var (
	impl     = generic
	vecQuant = false
)

// Kernels is the package's family of implementations: "vnni" (512-bit
// VPDPBUSD), "avxvnni" (256-bit VEX VPDPBUSD), "avx2" (VPMADDUBSW, exact
// for activations up to 128) and the reference, "generic". LSTMQ_CPU caps
// the choice; tests select each one.
var Kernels = cpu.Register("q8", func(name string) {
	impl = generic
	if k, ok := byName[name]; ok {
		impl = k
	}
	vecQuant = impl != generic
}, impls...)

// Packed is an n×k int8 weight matrix W (n outputs, k inputs, row-major like
// PyTorch's weight) prepacked once in the layout the kernels read, with
// per-row scales and row sums.
//
// Packed layout (after FBGEMM's and MLAS's VNNI packing: 4 consecutive k
// interleaved per output lane): W is cut into panels of 16 rows (outputs); panel P holds
// kq = ceil(k/4) quads of 64 bytes, quad q holding W[16P+c, 4q+t] at byte
// 4c+t (c < 16, t < 4), so that one quad is one 512-bit VPDPBUSD operand
// (16 int32 lanes, each a 4-long dot product). Rows past n (n is padded to a
// multiple of 64) and columns past k are zero.
//
// A Packed built by PackBlocks has one scale per row and block of inputs
// instead (see PackBlocks for the layout of their scales and row sums).
type Packed struct {
	n, k   int
	scales []float32 // as given: 1 or n (Pack), n·nb (PackBlocks)

	kq int       // quads per panel row: ceil(k/4)
	np int       // n rounded up to tileMax
	b  []int8    // np/16 panels × kq × 64 bytes
	rs []int32   // Σ_p W[j,p] per output, padded with zeros to np
	sc []float32 // per-row scale padded with zeros to np (Pack only)

	block, nb int       // PackBlocks: inputs per block, blocks per row (0: Pack)
	bsc       []float32 // PackBlocks: scale of row j, block b at meta(j, b)
	brs       []int32   // PackBlocks: Σ of row j over block b at meta(j, b)

	maxA uint8 // the largest activation the products must be exact for (0: MaxExactU8)
}

// RequireExact makes every later product exact for activations up to
// maxA: where the kernel in use is exact only up to a smaller value (AVX2's
// int16 pair sums saturate above 128), the products run in two exact halves
// (splitSums), or on the reference for a kernel exact below 128. Call it
// before the Packed is shared.
func (p *Packed) RequireExact(maxA uint8) { p.maxA = maxA }

// exactKernel reports whether kern may run p's products.
func (p *Packed) exactKernel(kern *kernel) bool {
	return kern.asm != 0 && p.k >= 4 && p.maxA <= kern.maxU8
}

// splitKernel reports whether kern runs p's products in two halves
// (splitSums): activations up to 255 on a kernel exact up to 128.
func (p *Packed) splitKernel(kern *kernel) bool {
	return kern.asm != 0 && p.k >= 4 && p.maxA > kern.maxU8 && kern.maxU8 >= 128
}

// Scratch of splitSums, recycled so that a product allocates nothing.
var (
	splitBytes  = sync.Pool{New: func() any { return new([]uint8) }}
	splitSums32 = sync.Pool{New: func() any { return new([]int32) }}
)

func growPooled[T any](p *sync.Pool, n int) *[]T {
	b := p.Get().(*[]T)
	if cap(*b) < n {
		*b = make([]T, n)
	}
	*b = (*b)[:n]
	return b
}

// splitSums computes MulU8's exact sums into acc on kern, whose products
// are exact only for activations up to 128: a = lo + hi with
// lo = min(a, 128) and hi = a − lo ≤ 127, each half one exact product, the
// two sums added.
func (p *Packed) splitSums(pool *parallel.Pool, kern *kernel, acc []int32, a []uint8, m int) {
	lo, hi := growPooled[uint8](&splitBytes, m*p.k), growPooled[uint8](&splitBytes, m*p.k)
	acc2 := growPooled[int32](&splitSums32, m*p.n)
	defer func() {
		splitBytes.Put(lo)
		splitBytes.Put(hi)
		splitSums32.Put(acc2)
	}()
	for i, v := range a[:m*p.k] {
		l := min(v, 128)
		(*lo)[i], (*hi)[i] = l, v-l
	}
	tiles := (p.n + kern.cols - 1) / kern.cols
	product{p: p, kern: kern, acc: acc, a: *lo, m: m}.run(pool, tiles, p.grain(m, kern.cols))
	product{p: p, kern: kern, acc: *acc2, a: *hi, m: m}.run(pool, tiles, p.grain(m, kern.cols))
	for i, v := range *acc2 {
		acc[i] += v
	}
}

// splitFloat is the float product of a split kernel: splitSums, then
// t.rowEpilogue on every row.
func (t product) splitFloat(pool *parallel.Pool) {
	p := t.p
	acc := growPooled[int32](&splitSums32, t.m*p.n)
	defer splitSums32.Put(acc)
	p.splitSums(pool, t.kern, *acc, t.a, t.m)
	for i := range t.m {
		t.rowEpilogue(t.dst[i*p.n:(i+1)*p.n], (*acc)[i*p.n:(i+1)*p.n], 0, p.n)
	}
}

// Pack prepacks W (row-major n×k). scales holds one scale per tensor
// (len 1) or one per row (len n). Pack copies w into the packed layout and
// does not keep it: a caller that drops w needs memory for W once, not
// twice (Weights rebuilds it). It panics if the lengths do not fit.
func Pack(w []int8, n, k int, scales []float32) *Packed {
	if n < 0 || k < 0 || len(w) != n*k {
		panic("q8: Pack: len(w) != n*k")
	}
	if len(scales) != 1 && len(scales) != n {
		panic("q8: Pack: len(scales) must be 1 or n")
	}
	p := pack(w, n, k)
	p.scales = scales
	p.sc = make([]float32, p.np)
	for j := range n {
		if len(scales) == 1 {
			p.sc[j] = scales[0]
		} else {
			p.sc[j] = scales[j]
		}
	}
	return p
}

// pack copies W (row-major n×k) into the packed panels and sums its rows.
func pack(w []int8, n, k int) *Packed {
	kq := (k + 3) / 4
	np := (n + tileMax - 1) / tileMax * tileMax
	p := &Packed{
		n: n, k: k,
		kq: kq, np: np,
		b:  make([]int8, np*kq*4),
		rs: make([]int32, np),
	}
	for j := range n {
		row := w[j*k : (j+1)*k]
		var s int32
		for _, v := range row {
			s += int32(v)
		}
		p.rs[j] = s
		panel := p.b[(j/16)*kq*64:]
		c := j % 16
		for q, v := range row {
			panel[(q/4)*64+4*c+q%4] = v
		}
	}
	return p
}

// Rows returns n, the number of outputs.
func (p *Packed) Rows() int { return p.n }

// Cols returns k, the number of inputs.
func (p *Packed) Cols() int { return p.k }

// Weights returns W row-major (n×k), a new slice rebuilt from the packed
// layout:
//
//	W[j*k+q] = b[(j/16)·kq·64 + (q/4)·64 + 4·(j%16) + q%4]
func (p *Packed) Weights() []int8 {
	w := make([]int8, p.n*p.k)
	if p.k == 0 {
		return w
	}
	for j := range p.n {
		panel := p.b[(j/16)*p.kq*64+4*(j%16):]
		for q := range p.k {
			w[j*p.k+q] = panel[(q/4)*64+q%4]
		}
	}
	return w
}

// Scales returns the weight scales as given to Pack (1 or n of them) or
// PackBlocks (n·nb).
func (p *Packed) Scales() []float32 { return p.scales }

// RowSums returns Σ_p W[j,p] for each output j.
func (p *Packed) RowSums() []int32 { return p.rs[:p.n] }

// MaxExactU8 is the largest activation value for which the active kernel is
// exact: 255 for the VNNI kernels and the generic one, 128 for the AVX2
// VPMADDUBSW kernel, whose int16 pair sums saturate above that (with
// a ≤ 128 and w ∈ [−128, 127] they stay in [−32768, 32512]).
func MaxExactU8() uint8 { return impl.maxU8 }

// Kernel names the GEMM kernel in use (for reports and benchmarks).
func Kernel() string { return impl.name }

func (p *Packed) check(out int, a []uint8, m int) {
	if m < 0 || len(a) < m*p.k || out < m*p.n {
		panic("q8: Packed product: short operand")
	}
}

// grain returns how many tiles of cols columns a parallel chunk takes so
// that it holds at least ~256k multiply-adds.
func (p *Packed) grain(m, cols int) int {
	work := max(m*cols*p.k, 1)
	return max(1, (1<<18)/work)
}

// MulU8 computes the exact u8×s8 products of m rows of a (row stride k)
// with W:
//
//	acc[i*n+j] = Σ_p a[i*k+p]·W[j*k+p]
//
// (|sum| ≤ 255·128·k fits int32 for k ≤ 65793). With the AVX2 kernel it is
// exact only if every a ≤ MaxExactU8(). The outputs are split over
// pool's threads (pool may be nil) in whole column tiles, so the result does not depend on
// the thread count.
func (p *Packed) MulU8(pool *parallel.Pool, acc []int32, a []uint8, m int) {
	p.check(len(acc), a, m)
	if m == 0 || p.n == 0 {
		return
	}
	kern := impl
	if p.splitKernel(kern) {
		p.splitSums(pool, kern, acc, a, m)
		return
	}
	if !p.exactKernel(kern) {
		product{p: p, acc: acc, a: a, m: m}.run(pool, p.n, 16*p.grain(m, 16))
		return
	}
	tiles := (p.n + kern.cols - 1) / kern.cols
	product{p: p, kern: kern, acc: acc, a: a, m: m}.run(pool, tiles, p.grain(m, kern.cols))
}

// product holds one call's operands, run over ranges of its outputs:
// columns for the reference (kern nil), tiles for a kernel. MulU8 sets acc,
// MulU8Dequant dst, MulU8OneDNN dst and osc (bias then holds bq).
type product struct {
	p      *Packed
	kern   *kernel
	acc    []int32
	dst    []float32
	osc    []float32
	a      []uint8
	m      int
	sa     float32
	za     int32
	bias   []float32
	sc     OneDNNScales // with scaled, Run fills osc and bias for its outputs first
	scaled bool
	blocks bool // the block-scaled arithmetic (mulBlocks)
	fused  bool // … on the kernel's block-scaled kernel (else its integer one)
}

// Run implements parallel.Task: outputs [lo, hi).
func (t *product) Run(lo, hi int) {
	if t.scaled {
		j0, j1 := lo, hi   // columns
		if t.kern != nil { // tiles
			j0, j1 = lo*t.kern.cols, min(hi*t.kern.cols, t.p.n)
		}
		t.sc.Fill(t.osc, t.bias, j0, j1)
	}
	switch {
	case t.blocks && t.kern == nil:
		t.blocksGeneric(lo, hi)
	case t.blocks && t.fused:
		t.blockTiles(lo, hi)
	case t.blocks:
		t.blockMulTiles(lo, hi)
	case t.kern == nil && t.acc != nil:
		t.p.mulGeneric(t.acc, t.a, t.m, lo, hi)
	case t.kern == nil:
		t.floatGeneric(lo, hi)
	case t.acc != nil:
		t.p.mulTiles(t.kern, t.acc, t.a, t.m, lo, hi)
	default:
		t.floatTiles(lo, hi)
	}
}

// products recycles the tasks of parallel calls, so that they allocate
// nothing.
var products = sync.Pool{New: func() any { return new(product) }}

// run computes n outputs (columns or tiles) on pool in chunks of grain; on
// one thread, on the caller's goroutine.
func (t product) run(pool *parallel.Pool, n, grain int) {
	if pool.Threads() == 1 {
		t.Run(0, n)
		return
	}
	pt := products.Get().(*product)
	*pt = t
	pool.Run(n, grain, pt)
	*pt = product{}
	products.Put(pt)
}

// pfBlock is the prefetch flag for row block blk of a tile: the first two
// blocks spread the next tile's prefetches (one block alone issues them
// faster than the memory system takes them).
func pfBlock(pf, blk int) int {
	if blk < 2 {
		return pf
	}
	return 0
}

// rowBlock returns the rows [i0, i1) of block b of nb, the blocks as even
// as possible (25 rows on a 6-row kernel: 5 blocks of 5, not 6+6+6+6+1).
func rowBlock(m, nb, b int) (i0, i1 int) { return b * m / nb, (b + 1) * m / nb }

// mulTiles runs the kernel over column tiles [t0, t1): each tile's weights
// stay in L1 while every block of rows passes over them; the first blocks
// prefetch the next tile's weights.
func (p *Packed) mulTiles(kern *kernel, acc []int32, a []uint8, m, t0, t1 int) {
	n, k, panel := p.n, p.k, p.kq*64
	nb := (m + kern.rows - 1) / kern.rows
	for t := t0; t < t1; t++ {
		j0 := t * kern.cols
		b := &p.b[j0*p.kq*4]
		pf := 0
		if t+1 < t1 && m > 1 {
			pf = 1
		}
		if j0+kern.cols <= n {
			for blk := range nb {
				i0, i1 := rowBlock(m, nb, blk)
				kern.mul(&acc[i0*n+j0], n, &a[i0*k], k, i1-i0, b, k, panel, pfBlock(pf, blk), &p.rs[j0])
			}
			continue
		}
		// Last, partial tile: compute it whole into a scratch tile.
		var s [rowsMax * tileMax]int32
		w := n - j0
		for blk := range nb {
			i0, i1 := rowBlock(m, nb, blk)
			kern.mul(&s[0], kern.cols, &a[i0*k], k, i1-i0, b, k, panel, 0, &p.rs[j0])
			for r := range i1 - i0 {
				copy(acc[(i0+r)*n+j0:(i0+r)*n+n], s[r*kern.cols:r*kern.cols+w])
			}
		}
	}
}

// MulU8Dequant computes MulU8 and turns the sums into float32 the way
// PyTorch's dynamic quantized Linear does on x86 (FBGEMM's
// requantizeForFloatAvx2, used by ReQuantizeForFloat):
//
//	x = acc[i,j] − za·RowSums[j]                    (int32, wrapping)
//	dst[i*n+j] = float32(x)·(sa·scale_j) + bias[j]  (each op rounded to float32)
//
// in that order: sa·scale_j is one float32 product, float32(x) is rounded to
// nearest even, the product and the sum are separate roundings (no fused
// multiply-add), and with bias == nil the addition is skipped. sa and za are
// the activations' scale and zero point; scale_j is the weight scale of row
// j (or the tensor's).
//
// On a Packed with block scales (PackBlocks) the arithmetic is that of
// mulBlocks instead: one fused multiply-add per block, in block order,
// then one with sa and the bias.
func (p *Packed) MulU8Dequant(pool *parallel.Pool, dst []float32, a []uint8, m int, sa float32, za int32, bias []float32) {
	p.check(len(dst), a, m)
	if bias != nil && len(bias) < p.n {
		panic("q8: MulU8Dequant: short bias")
	}
	if m == 0 || p.n == 0 {
		return
	}
	if p.block > 0 {
		p.mulBlocks(pool, dst, a, m, sa, za, bias)
		return
	}
	kern := impl
	if p.splitKernel(kern) {
		product{p: p, kern: kern, dst: dst, a: a, m: m, sa: sa, za: za, bias: bias}.splitFloat(pool)
		return
	}
	if !p.exactKernel(kern) {
		product{p: p, dst: dst, a: a, m: m, sa: sa, za: za, bias: bias}.run(pool, p.n, 16*p.grain(m, 16))
		return
	}
	tiles := (p.n + kern.cols - 1) / kern.cols
	product{p: p, kern: kern, dst: dst, a: a, m: m, sa: sa, za: za, bias: bias}.run(pool, tiles, p.grain(m, kern.cols))
}

// OneDNNScales are the inputs of a oneDNN product's output scales and
// scaled biases (see Fill).
type OneDNNScales struct {
	Inv  float32   // inv_x, the activations' float32(1/scale)
	InvW []float32 // inv_w: one value for the tensor, or one per output
	Bias []float32 // nil: no bias
}

// Fill sets, for outputs j in [j0, j1), the output scale and the bias in
// the accumulator's domain as oneDNN computes them, each op rounded to
// float32 (bq is nil without a bias):
//
//	sb_j = inv_x·inv_w_j,  osc_j = 1/sb_j,  bq_j = bias_j·sb_j
func (s *OneDNNScales) Fill(osc, bq []float32, j0, j1 int) {
	if len(s.InvW) == 1 {
		// Vector copies and one SIMD scale, as the Go loops would
		// round them: this runs once per product at batch 1.
		if j1 <= j0 {
			return
		}
		sb := float32(s.Inv * s.InvW[0])
		o := osc[j0:j1]
		o[0] = 1 / sb
		for j := 1; j < len(o); j *= 2 {
			copy(o[j:], o[:j])
		}
		if s.Bias != nil {
			copy(bq[j0:j1], s.Bias[j0:j1])
			f32.Scale(bq[j0:j1], sb)
		}
		return
	}
	for j := j0; j < j1; j++ {
		sb := float32(s.Inv * s.InvW[j])
		osc[j] = 1 / sb
		if s.Bias != nil {
			bq[j] = float32(s.Bias[j] * sb)
		}
	}
}

// MulU8OneDNNScaled is MulU8OneDNN with the scales filled in by the
// product, each thread for its own outputs just before it computes them,
// into osc and bq (scratch of n floats each; bq unused without a bias).
// A batch-1 step thus never passes over the whole of osc and bq: for a
// decoder of 33,278 words they are 266 KB a word.
func (p *Packed) MulU8OneDNNScaled(pool *parallel.Pool, dst []float32, a []uint8, m int, za int32, sc *OneDNNScales, osc, bq []float32) {
	if len(sc.InvW) != 1 && len(sc.InvW) < p.n || sc.Bias != nil && len(sc.Bias) < p.n {
		panic("q8: MulU8OneDNNScaled: short inv_w or bias")
	}
	if sc.Bias == nil {
		bq = nil
	}
	p.mulOneDNN(pool, dst, a, m, za, osc, bq, sc)
}

// MulU8OneDNN computes MulU8 and turns the sums into float32 as oneDNN's
// int8 GEMM post-processing does (PyTorch's onednn engine):
//
//	x = acc[i,j] − za·RowSums[j]                    (int32, wrapping)
//	dst[i*n+j] = (float32(x) + bq[j])·osc[j]        (each op rounded to float32)
//
// osc holds the output scale of each output (len ≥ n) and bq the bias
// already scaled into the accumulator's domain (nil: no add). The Packed's
// own scales are not used.
func (p *Packed) MulU8OneDNN(pool *parallel.Pool, dst []float32, a []uint8, m int, za int32, osc, bq []float32) {
	p.mulOneDNN(pool, dst, a, m, za, osc, bq, nil)
}

// mulOneDNN is MulU8OneDNN, and MulU8OneDNNScaled when sc is not nil.
func (p *Packed) mulOneDNN(pool *parallel.Pool, dst []float32, a []uint8, m int, za int32, osc, bq []float32, sc *OneDNNScales) {
	p.check(len(dst), a, m)
	if len(osc) < p.n || bq != nil && len(bq) < p.n {
		panic("q8: MulU8OneDNN: short osc or bq")
	}
	if m == 0 || p.n == 0 {
		return
	}
	kern := impl
	if p.splitKernel(kern) {
		if sc != nil {
			sc.Fill(osc, bq, 0, p.n)
		}
		product{p: p, kern: kern, dst: dst, osc: osc, a: a, m: m, za: za, bias: bq}.splitFloat(pool)
		return
	}
	if !p.exactKernel(kern) {
		t := product{p: p, dst: dst, osc: osc, a: a, m: m, za: za, bias: bq}
		if sc != nil {
			t.sc, t.scaled = *sc, true
		}
		t.run(pool, p.n, 16*p.grain(m, 16))
		return
	}
	tiles := (p.n + kern.cols - 1) / kern.cols
	t := product{p: p, kern: kern, dst: dst, osc: osc, a: a, m: m, za: za, bias: bq}
	if sc != nil {
		t.sc, t.scaled = *sc, true
	}
	t.run(pool, tiles, p.grain(m, kern.cols))
}

// floatTiles computes the float outputs of tiles [t0, t1): the kernel's
// fused epilogue on whole tiles, the int32 sums and the Go epilogue
// (t.rowEpilogue) on the last, partial one.
func (t *product) floatTiles(t0, t1 int) {
	p, kern, a, m := t.p, t.kern, t.a, t.m
	n, k, panel := p.n, p.k, p.kq*64
	nb := (m + kern.rows - 1) / kern.rows
	for tile := t0; tile < t1; tile++ {
		j0 := tile * kern.cols
		b := &p.b[j0*p.kq*4]
		pf := 0
		if tile+1 < t1 && m > 1 {
			pf = 1
		}
		if j0+kern.cols <= n {
			var bp *float32
			if t.bias != nil {
				bp = &t.bias[j0]
			}
			for blk := range nb {
				i0, i1 := rowBlock(m, nb, blk)
				d, ai := &t.dst[i0*n+j0], &a[i0*k]
				if t.osc != nil {
					kern.oneDNN(d, n, ai, k, i1-i0, b, k, panel, pfBlock(pf, blk), &p.rs[j0], &t.osc[j0], bp, t.za)
				} else {
					kern.deq(d, n, ai, k, i1-i0, b, k, panel, pfBlock(pf, blk), &p.rs[j0], &p.sc[j0], bp, t.sa, t.za)
				}
			}
			continue
		}
		var s [rowsMax * tileMax]int32
		w := n - j0
		for blk := range nb {
			i0, i1 := rowBlock(m, nb, blk)
			kern.mul(&s[0], kern.cols, &a[i0*k], k, i1-i0, b, k, panel, 0, &p.rs[j0])
			for r := range i1 - i0 {
				t.rowEpilogue(t.dst[(i0+r)*n+j0:(i0+r)*n+n], s[r*kern.cols:r*kern.cols+w], j0, n)
			}
		}
	}
}

// rowEpilogue turns the sums acc of outputs [j0, j1) of one row into d:
// oneDNN's arithmetic when t.osc is set, FBGEMM's otherwise.
func (t *product) rowEpilogue(d []float32, acc []int32, j0, j1 int) {
	var bb []float32
	if t.bias != nil {
		bb = t.bias[j0:j1]
	}
	rs := t.p.rs[j0:j1]
	if t.osc != nil {
		oneDNNRow(d, acc, rs, t.osc[j0:j1], bb, t.za)
		return
	}
	dequantRow(d, acc, rs, t.p.sc[j0:j1], bb, t.sa, t.za)
}

// MinMax returns the smallest and largest of x (0, 0 if x is empty), as
// FBGEMM's FindMinMax does. The result is unspecified if x holds a NaN.
func MinMax(x []float32) (lo, hi float32) {
	if len(x) == 0 {
		return 0, 0
	}
	n8 := len(x) &^ 7
	if !vecQuant || n8 == 0 {
		return minMaxGeneric(x)
	}
	lo, hi = minMaxAVX2(&x[0], n8)
	for _, v := range x[n8:] {
		lo, hi = min2(lo, v), max2(hi, v)
	}
	return lo, hi
}

// QuantizeU8 quantizes x into dst[:len(x)] exactly as FBGEMM's QuantizeAvx2
// (LEGACY, the variant PyTorch's dynamic Linear runs through
// PackAWithQuantRowOffset):
//
//	t = fma(x[i], invScale, float32(zp))   (one float32 rounding)
//	t = min(t, 2147483520)                 (a NaN becomes 2147483520)
//	dst[i] = clamp(nearbyint(t), 0, qmax)  (round half to even)
//
// invScale is 1/scale computed in float32 (FBGEMM: 1.f / qparams.scale).
// FBGEMM clamps to 255 whatever the range: pass qmax = 255 to match it
// bit for bit, or 127 to keep activations within MaxExactU8 on AVX2.
// It panics if len(dst) < len(x) or qmax is outside 0..255.
func QuantizeU8(dst []uint8, x []float32, invScale float32, zp int32, qmax int32) {
	if len(dst) < len(x) {
		panic("q8: QuantizeU8: short dst")
	}
	if qmax < 0 || qmax > 255 {
		panic("q8: QuantizeU8: qmax outside 0..255")
	}
	n32 := len(x) &^ 31
	if vecQuant && n32 > 0 {
		quantizeAVX2(&dst[0], &x[0], n32, invScale, zp, qmax)
	} else {
		n32 = 0
	}
	quantizeGeneric(dst[n32:len(x)], x[n32:], invScale, zp, qmax)
}
