package q8

import (
	"sync"

	"github.com/lstmq/lstmq/internal/f32"
	"github.com/lstmq/lstmq/internal/parallel"
)

// PackBlocks prepacks W (row-major n×k) with one scale per row and block of
// inputs: scales[j*nb+b] is the scale of row j over inputs
// [b·block, min((b+1)·block, k)), nb = ceil(k/block) blocks (the last one
// may be shorter). MulU8Dequant then runs the block-scaled arithmetic of
// mulBlocks. PackBlocks copies w and does not keep it (Weights rebuilds it;
// Scales returns scales, BlockRowSums the sums of each row over each
// block). It panics if block < 1 or the lengths do not fit.
//
// Layout: W as Pack lays it out. The scales and the row sums of each
// block, rs_{j,b} = Σ_{p in block b} W[j,p], go in groups of 64 rows,
// value (j, b) at meta(j, b) = (j/64)·nb·64 + b·64 + j%64: a tile of
// columns reads its 64 (or 16) values of a block contiguously, block after
// block 256 bytes apart.
func PackBlocks(w []int8, n, k, block int, scales []float32) *Packed {
	if n < 0 || k < 0 || len(w) != n*k {
		panic("q8: PackBlocks: len(w) != n*k")
	}
	if block < 1 {
		panic("q8: PackBlocks: block < 1")
	}
	nb := (k + block - 1) / block
	if len(scales) != n*nb {
		panic("q8: PackBlocks: len(scales) != n·ceil(k/block)")
	}
	p := pack(w, n, k)
	p.scales, p.block, p.nb = scales, block, nb
	p.bsc = make([]float32, p.np*nb)
	p.brs = make([]int32, p.np*nb)
	for j := range n {
		for b := range nb {
			var s int32
			for _, v := range w[j*k+b*block : j*k+min((b+1)*block, k)] {
				s += int32(v)
			}
			p.brs[p.meta(j, b)] = s
			p.bsc[p.meta(j, b)] = scales[j*nb+b]
		}
	}
	return p
}

// meta is the index of row j, block b in bsc and brs.
func (p *Packed) meta(j, b int) int { return (j/tileMax)*p.nb*tileMax + b*tileMax + j%tileMax }

// Block returns the inputs per block of a Packed built by PackBlocks, 0 for
// one built by Pack.
func (p *Packed) Block() int { return p.block }

// BlockRowSums returns, for a Packed built by PackBlocks, the sums of each
// row over each block in the order of the scales: rs[j*nb+b] =
// Σ_{p in block b} W[j,p] (a new slice). It returns nil for one built by
// Pack.
func (p *Packed) BlockRowSums() []int32 {
	if p.block == 0 {
		return nil
	}
	rs := make([]int32, p.n*p.nb)
	for j := range p.n {
		for b := range p.nb {
			rs[j*p.nb+b] = p.brs[p.meta(j, b)]
		}
	}
	return rs
}

// zeroTile is the bias of a block-scaled tile without one.
var zeroTile [tileMax]float32

// mulBlocks is MulU8Dequant on a Packed with block scales (m, n > 0):
//
//	s = +0
//	for b := 0; b < nb; b++ {                                  (in block order)
//		x = Σ_{p in block b} a[i,p]·W[j,p] − za·rs_{j,b}     (int32, wrapping)
//		s = fma(float32(x), scale_{j,b}, s)
//	}
//	dst[i*n+j] = fma(s, sa, bias[j])                         (bias nil: +0)
//
// float32(x) rounds to nearest even and each fma rounds once (VFMADD;
// f32.FMA32 in the reference). This is Σ_b x·(sa·scale_{j,b}) + bias[j]
// with the activation scale sa factored out of the blocks: per block, one
// multiply-add by a scale known when packing. The outputs are split over
// pool's threads in whole column tiles, so the result does not depend on
// the thread count.
func (p *Packed) mulBlocks(pool *parallel.Pool, dst []float32, a []uint8, m int, sa float32, za int32, bias []float32) {
	kern := impl
	t := product{p: p, kern: kern, dst: dst, a: a, m: m, sa: sa, za: za, bias: bias, blocks: true}
	switch {
	case p.blockKernel(kern):
		t.fused = true
	case !p.blockMulKernel(kern):
		t.kern = nil
		t.run(pool, p.n, 16*p.grain(m, 16))
		return
	}
	tiles := (p.n + kern.cols - 1) / kern.cols
	t.run(pool, tiles, p.grain(m, kern.cols))
}

// blockFused lets tests turn the block-scaled kernels off, so that the
// integer kernels with the Go epilogue (blockMulTiles) run instead.
var blockFused = true

// blockKernel reports whether kern's block-scaled kernel may run p's
// products: blocks of whole quads (k ≥ 4), and activations the kernel or
// its split variant (blockSplit) sums exactly.
func (p *Packed) blockKernel(kern *kernel) bool {
	return blockFused && kern.blocks && p.block%4 == 0 && kern.asm != 0 && p.k >= 4 && (p.maxA <= kern.maxU8 || kern.blockSplit)
}

// blockMulKernel reports whether kern's integer kernel may run p's
// block-scaled products block by block (blockMulTiles): the kernels
// without a block-scaled one (arm64's).
func (p *Packed) blockMulKernel(kern *kernel) bool {
	return p.block%4 == 0 && p.exactKernel(kern)
}

// blockSplit reports whether p's products on kern run its split variant.
func (p *Packed) blockSplit(kern *kernel) bool { return p.maxA > kern.maxU8 }

// blockConsts recycles the consts of blockTiles (kernel.prepBlocks).
var blockConsts = sync.Pool{New: func() any { return new([]int32) }}

// The flags of the block kernels (kernel.deqBlocks) when the inputs run in
// several calls: the running sums start from d instead of 0
// (blocksResume); the call stores them in d as they are, without sa and
// the bias (blocksPartial).
const (
	blocksResume  = 1
	blocksPartial = 2
)

// blockChunk is how many inputs (rounded down to whole blocks, at least
// one) a block kernel call takes: 64 columns × 256 inputs of weights
// (16 KB) stay in L1 while every group of rows passes over them.
const blockChunk = 256

// blockTiles computes the block-scaled outputs of column tiles [t0, t1)
// with the kernel's block-scaled kernel: for each tile, prepBlocks turns
// the row sums of every block into −za·rowSums, then the kernel runs all
// m rows over the tile, blockChunk inputs a call; the last, partial tile
// goes through a scratch tile.
func (t *product) blockTiles(t0, t1 int) {
	p, kern, a, m := t.p, t.kern, t.a, t.m
	n, k, panel, cols := p.n, p.k, p.kq*64, kern.cols
	cst := growPooled[int32](&blockConsts, p.nb*cols)
	defer blockConsts.Put(cst)
	c := *cst
	split := p.blockSplit(kern)
	kc := max(1, blockChunk/p.block) * p.block
	for tile := t0; tile < t1; tile++ {
		j0 := tile * cols
		b := p.b[j0*p.kq*4:]
		mi := p.meta(j0, 0)
		kern.prepBlocks(&c[0], &p.brs[mi], &p.bsc[mi], p.nb, t.za)
		pf := 0
		if tile+1 < t1 && m > 1 {
			pf = 1
		}
		// run computes rows [i0, i1) into d (row stride ldd) over every
		// chunk of inputs.
		run := func(d *float32, ldd, i0, i1 int, bias *float32, pf int) {
			for p0 := 0; p0 < k; p0 += kc {
				p1, flags := min(p0+kc, k), 0
				if p0 > 0 {
					flags |= blocksResume
				}
				if p1 < k {
					flags |= blocksPartial
				}
				b0 := p0 / p.block
				kern.deqBlocks(split, d, ldd, &a[i0*k+p0], k, i1-i0, &b[p0*16], p1-p0, panel, pf, &c[b0*cols], &p.bsc[mi+b0*tileMax], bias, t.sa, p.block, flags)
			}
		}
		if j0+cols <= n {
			bp := &zeroTile[0]
			if t.bias != nil {
				bp = &t.bias[j0]
			}
			run(&t.dst[j0], n, 0, m, bp, pf)
			continue
		}
		// Last, partial tile: rowsMax rows at a time into a scratch tile.
		var s [rowsMax * tileMax]float32
		var bb [tileMax]float32
		w := n - j0
		if t.bias != nil {
			copy(bb[:w], t.bias[j0:n])
		}
		for i0 := 0; i0 < m; i0 += rowsMax {
			i1 := min(i0+rowsMax, m)
			run(&s[0], cols, i0, i1, &bb[0], 0)
			for r := range i1 - i0 {
				copy(t.dst[(i0+r)*n+j0:(i0+r)*n+n], s[r*cols:r*cols+w])
			}
		}
	}
}

// blockMulTiles computes the block-scaled outputs of column tiles [t0, t1)
// block by block on the kernel's integer tile kernel, each block's sums
// (the inputs of the block and its row sums) turned into float32 in Go
// with mulBlocks's arithmetic: the path of kernels without a block-scaled
// kernel. A last block shorter than a quad is summed in Go.
func (t *product) blockMulTiles(t0, t1 int) {
	p, kern, a, m := t.p, t.kern, t.a, t.m
	n, k, panel, cols := p.n, p.k, p.kq*64, kern.cols
	var s [rowsMax * tileMax]int32
	var f [rowsMax * tileMax]float32
	nr := (m + kern.rows - 1) / kern.rows
	for tile := t0; tile < t1; tile++ {
		j0 := tile * cols
		w := min(cols, n-j0)
		for blk := range nr {
			i0, i1 := rowBlock(m, nr, blk)
			clear(f[:])
			for b := range p.nb {
				p0, p1 := b*p.block, min((b+1)*p.block, k)
				mi := p.meta(j0, b)
				if p1-p0 >= 4 {
					kern.mul(&s[0], cols, &a[i0*k+p0], k, i1-i0, &p.b[j0*p.kq*4+p0*16], p1-p0, panel, 0, &p.brs[mi])
				} else {
					for r := range i1 - i0 {
						ar := a[(i0+r)*k : (i0+r+1)*k]
						for c := range w {
							s[r*cols+c] = p.dotRange(j0+c, ar, p0, p1)
						}
					}
				}
				rs, sc := p.brs[mi:mi+w], p.bsc[mi:mi+w]
				for r := range i1 - i0 {
					fr, sr := f[r*cols:r*cols+w], s[r*cols:r*cols+w]
					for c, x := range sr {
						fr[c] = f32.FMA32(float32(x-t.za*rs[c]), sc[c], fr[c])
					}
				}
			}
			for r := range i1 - i0 {
				d := t.dst[(i0+r)*n+j0 : (i0+r)*n+j0+w]
				for c, v := range f[r*cols : r*cols+w] {
					var bias float32
					if t.bias != nil {
						bias = t.bias[j0+c]
					}
					d[c] = f32.FMA32(v, t.sa, bias)
				}
			}
		}
	}
}
