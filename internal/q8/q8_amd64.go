//go:build !purego

package q8

import "github.com/lstmq/lstmq/internal/cpu"

// The GEMM kernels compute one tile: rows 0..m-1 of the activations
// (1 ≤ m ≤ the kernel's row count; a has row stride lda bytes, k ≥ 4) times
// the cols columns of the packed weights starting at panel b (consecutive
// 16-column panels are panel bytes apart, see Packed), with c (d) of row
// stride ldc (ldd) elements. They read nothing past the end of each
// activation row. With pf != 0 they also prefetch the next tile's weights
// (the caller sets it for the first row block of a tile). Reference loop (cols = 64 for VNNI, 16 otherwise):
//
//	for i := 0; i < m; i++ {
//		for j := 0; j < cols; j++ {
//			var s int32
//			for p := 0; p < k; p++ {
//				s += int32(a[i*lda+p]) * int32(W[j][p]) // W[j][p] = b[(j/16)*panel + (p/4)*64 + 4*(j%16) + p%4]
//			}
//			c[i*ldc+j] = s
//		}
//	}
//
// The mulDequant kernels store instead
//
//	d[i*ldd+j] = float32(s − za·rowSums[j]) · (sa·scales[j]) + bias[j]   // bias == nil: no add

// mulVNNI is the tile kernel with 512-bit VPDPBUSD (AVX512-VNNI): 6 rows, 64 columns.
//
//go:noescape
func mulVNNI(c *int32, ldc int, a *uint8, lda int, m int, b *int8, k int, panel int, pf int)

// mulDequantVNNI is mulVNNI with the float epilogue of MulU8Dequant.
//
//go:noescape
func mulDequantVNNI(d *float32, ldd int, a *uint8, lda int, m int, b *int8, k int, panel int, pf int, rowSums *int32, scales *float32, bias *float32, sa float32, za int32)

// mulAVXVNNI is the tile kernel with 256-bit VEX VPDPBUSD (AVX-VNNI): 6 rows, 16 columns.
//
//go:noescape
func mulAVXVNNI(c *int32, ldc int, a *uint8, lda int, m int, b *int8, k int, panel int, pf int)

// mulDequantAVXVNNI is mulAVXVNNI with the float epilogue of MulU8Dequant.
//
//go:noescape
func mulDequantAVXVNNI(d *float32, ldd int, a *uint8, lda int, m int, b *int8, k int, panel int, pf int, rowSums *int32, scales *float32, bias *float32, sa float32, za int32)

// mulOneDNNVNNI is mulVNNI with oneDNN's float epilogue (MulU8OneDNN): the
// scales argument holds the output scales, bias the scaled biases, sa is
// unused:
//
//	d[i*ldd+j] = (float32(s − za·rowSums[j]) + bias[j]) · scales[j]   // bias == nil: no add
//
//go:noescape
func mulOneDNNVNNI(d *float32, ldd int, a *uint8, lda int, m int, b *int8, k int, panel int, pf int, rowSums *int32, scales *float32, bias *float32, sa float32, za int32)

// mulOneDNNAVXVNNI is mulAVXVNNI with oneDNN's float epilogue (see mulOneDNNVNNI).
//
//go:noescape
func mulOneDNNAVXVNNI(d *float32, ldd int, a *uint8, lda int, m int, b *int8, k int, panel int, pf int, rowSums *int32, scales *float32, bias *float32, sa float32, za int32)

// mulOneDNNAVX2 is mulAVX2 with oneDNN's float epilogue (see mulOneDNNVNNI).
//
//go:noescape
func mulOneDNNAVX2(d *float32, ldd int, a *uint8, lda int, m int, b *int8, k int, panel int, pf int, rowSums *int32, scales *float32, bias *float32, sa float32, za int32)

// mulAVX2 is the tile kernel with VPMADDUBSW + VPMADDWD + VPADDD (AVX2): 4
// rows, 16 columns. VPMADDUBSW adds a[p]·W[p] + a[p+1]·W[p+1] in int16 with
// saturation, so the result is exact only when every a ≤ 127.
//
//go:noescape
func mulAVX2(c *int32, ldc int, a *uint8, lda int, m int, b *int8, k int, panel int, pf int)

// mulDequantAVX2 is mulAVX2 with the float epilogue of MulU8Dequant.
//
//go:noescape
func mulDequantAVX2(d *float32, ldd int, a *uint8, lda int, m int, b *int8, k int, panel int, pf int, rowSums *int32, scales *float32, bias *float32, sa float32, za int32)

// prepBlocks64 and prepBlocks16 prepare the consts the mulBlocks kernels
// read, for one tile of 64 or 16 columns: for each of nb blocks,
//
//	c[cols*b+j] = −za·rowSums[64*b+j]   // int32, wrapping
//
// for j < cols, rowSums pointing at the tile's row sums of block 0
// (Packed.meta: block b's are 64·b values further on). prepBlocks64 needs
// AVX-512 and also prefetches the next tile's row sums and scales (scales
// is read for nothing else); prepBlocks16 needs AVX2.
//
//go:noescape
func prepBlocks64(c *int32, rowSums *int32, scales *float32, nb int, za int32)

//go:noescape
func prepBlocks16(c *int32, rowSums *int32, scales *float32, nb int, za int32)

// The mulBlocks kernels compute m rows of one tile of the block-scaled
// MulU8Dequant (PackBlocks), in groups of 3 (VNNI) or 2 rows: the inputs
// in blocks of `block` (a multiple of 4; the last block may be shorter),
// with nzr the consts prepBlocks prepared for the tile, scales pointing at
// the tile's scales of block 0 (block b's 64·b values further on) and bias
// at the tile's biases (zeroTile for none). Reference loop:
//
//	for i := 0; i < m; i++ {
//		for j := 0; j < cols; j++ {
//			var s float32
//			for b, p0 := 0, 0; p0 < k; b, p0 = b+1, p0+block {
//				x := nzr[cols*b+j]                        // −za·rowSums
//				for p := p0; p < min(p0+block, k); p++ {
//					x += int32(a[i*lda+p]) * int32(W[j][p])
//				}
//				s = fma32(float32(x), scales[64*b+j], s)  // VFMADD231PS: one rounding
//			}
//			d[i*ldd+j] = fma32(s, sa, bias[j])
//		}
//	}
//
// The running sums s stay in registers beside the accumulators, so the
// kernels take fewer rows at a time than their integer twins. With flags
// the inputs may run in several calls: blocksResume starts s from d
// instead of 0, blocksPartial stores s in d as it is (no sa, no bias).

// mulBlocksVNNI is the block-scaled tile kernel with 512-bit VPDPBUSD: 3
// rows at a time, 64 columns.
//
//go:noescape
func mulBlocksVNNI(d *float32, ldd int, a *uint8, lda int, m int, b *int8, k int, panel int, pf int, consts *int32, scales *float32, bias *float32, sa float32, block int, flags int)

// mulBlocksAVXVNNI is the block-scaled tile kernel with 256-bit VEX
// VPDPBUSD: 2 rows at a time (two sets of accumulators on alternate
// quads), 16 columns.
//
//go:noescape
func mulBlocksAVXVNNI(d *float32, ldd int, a *uint8, lda int, m int, b *int8, k int, panel int, pf int, consts *int32, scales *float32, bias *float32, sa float32, block int, flags int)

// mulBlocksAVX2 is the block-scaled tile kernel with VPMADDUBSW + VPMADDWD:
// 2 rows at a time, 16 columns, exact for activations up to 128.
//
//go:noescape
func mulBlocksAVX2(d *float32, ldd int, a *uint8, lda int, m int, b *int8, k int, panel int, pf int, consts *int32, scales *float32, bias *float32, sa float32, block int, flags int)

// mulBlocksAVX2Split is mulBlocksAVX2 exact for every activation: each
// broadcast activation a is cut into min(a, 128) and the rest (≤ 127), two
// exact VPMADDUBSW products, at twice the cost.
//
//go:noescape
func mulBlocksAVX2Split(d *float32, ldd int, a *uint8, lda int, m int, b *int8, k int, panel int, pf int, consts *int32, scales *float32, bias *float32, sa float32, block int, flags int)

// quantizeAVX2 is QuantizeU8 for n a multiple of 32 (AVX2 + FMA):
//
//	for i := 0; i < n; i++ {
//		t := min(fma32(x[i], invScale, float32(zp)), 2147483520) // NaN → 2147483520
//		dst[i] = uint8(clamp(roundToEven(t), 0, qmax))
//	}
//
//go:noescape
func quantizeAVX2(dst *uint8, x *float32, n int, invScale float32, zp int32, qmax int32)

// minMaxAVX2 is MinMax for n a positive multiple of 8 (AVX):
//
//	lo, hi = x[0], x[0]
//	for i := 1; i < n; i++ { lo = min(lo, x[i]); hi = max(hi, x[i]) }
//
//go:noescape
func minMaxAVX2(x *float32, n int) (lo, hi float32)

// peakVNNI, peakAVXVNNI and peakAVX2 run n register-only steps of their
// kernel's full tile (rows × cols × 4 multiply-adds each), for PeakGOPS:
//
//	for ; n > 0; n-- { for each accumulator: acc += bc · w }
//
//go:noescape
func peakVNNI(n int)

//go:noescape
func peakAVXVNNI(n int)

//go:noescape
func peakAVX2(n int)

const (
	asmVNNI = 1 + iota
	asmAVXVNNI
	asmAVX2
)

var (
	kernVNNI    = &kernel{name: "vnni", cols: 64, rows: 6, maxU8: 255, asm: asmVNNI, blocks: true}
	kernAVXVNNI = &kernel{name: "avxvnni", cols: 16, rows: 6, maxU8: 255, asm: asmAVXVNNI, blocks: true}
	kernAVX2    = &kernel{name: "avx2", cols: 16, rows: 4, maxU8: 128, asm: asmAVX2, blocks: true, blockSplit: true} // a ≤ 128: a0·w0 + a1·w1 ∈ [−32768, 32512] fits int16
)

func (k *kernel) mul(c *int32, ldc int, a *uint8, lda int, m int, b *int8, kk int, panel int, pf int, rowSums *int32) {
	switch k.asm {
	case asmVNNI:
		mulVNNI(c, ldc, a, lda, m, b, kk, panel, pf)
	case asmAVXVNNI:
		mulAVXVNNI(c, ldc, a, lda, m, b, kk, panel, pf)
	case asmAVX2:
		mulAVX2(c, ldc, a, lda, m, b, kk, panel, pf)
	}
}

func (k *kernel) deq(d *float32, ldd int, a *uint8, lda int, m int, b *int8, kk int, panel int, pf int, rowSums *int32, scales *float32, bias *float32, sa float32, za int32) {
	switch k.asm {
	case asmVNNI:
		mulDequantVNNI(d, ldd, a, lda, m, b, kk, panel, pf, rowSums, scales, bias, sa, za)
	case asmAVXVNNI:
		mulDequantAVXVNNI(d, ldd, a, lda, m, b, kk, panel, pf, rowSums, scales, bias, sa, za)
	case asmAVX2:
		mulDequantAVX2(d, ldd, a, lda, m, b, kk, panel, pf, rowSums, scales, bias, sa, za)
	}
}

// deqBlocks runs k's block-scaled kernel; split selects its variant exact
// for every activation (kernel.blockSplit).
func (k *kernel) deqBlocks(split bool, d *float32, ldd int, a *uint8, lda int, m int, b *int8, kk int, panel int, pf int, consts *int32, scales *float32, bias *float32, sa float32, block, flags int) {
	switch {
	case k.asm == asmVNNI:
		mulBlocksVNNI(d, ldd, a, lda, m, b, kk, panel, pf, consts, scales, bias, sa, block, flags)
	case k.asm == asmAVXVNNI:
		mulBlocksAVXVNNI(d, ldd, a, lda, m, b, kk, panel, pf, consts, scales, bias, sa, block, flags)
	case k.asm == asmAVX2 && split:
		mulBlocksAVX2Split(d, ldd, a, lda, m, b, kk, panel, pf, consts, scales, bias, sa, block, flags)
	case k.asm == asmAVX2:
		mulBlocksAVX2(d, ldd, a, lda, m, b, kk, panel, pf, consts, scales, bias, sa, block, flags)
	}
}

func (k *kernel) prepBlocks(c *int32, rowSums *int32, scales *float32, nb int, za int32) {
	if k.cols == 64 {
		prepBlocks64(c, rowSums, scales, nb, za)
	} else {
		prepBlocks16(c, rowSums, scales, nb, za)
	}
}

func (k *kernel) oneDNN(d *float32, ldd int, a *uint8, lda int, m int, b *int8, kk int, panel int, pf int, rowSums *int32, scales *float32, bias *float32, za int32) {
	switch k.asm {
	case asmVNNI:
		mulOneDNNVNNI(d, ldd, a, lda, m, b, kk, panel, pf, rowSums, scales, bias, 0, za)
	case asmAVXVNNI:
		mulOneDNNAVXVNNI(d, ldd, a, lda, m, b, kk, panel, pf, rowSums, scales, bias, 0, za)
	case asmAVX2:
		mulOneDNNAVX2(d, ldd, a, lda, m, b, kk, panel, pf, rowSums, scales, bias, 0, za)
	}
}

func (k *kernel) peak(n int) {
	switch k.asm {
	case asmVNNI:
		peakVNNI(n)
	case asmAVXVNNI:
		peakAVXVNNI(n)
	case asmAVX2:
		peakAVX2(n)
	}
}

// impls are the assembly kernels, best first (cpu.Register). AVX-512
// without VNNI has no faster int8 product than VPMADDUBSW, so a CPU with
// AVX-512 but not its VNNI runs avxvnni or avx2.
var impls = []cpu.Impl{{Name: "vnni", Level: cpu.VNNI}, {Name: "avxvnni", Level: cpu.AVXVNNI}, {Name: "avx2", Level: cpu.AVX2}}

var byName = map[string]*kernel{"vnni": kernVNNI, "avxvnni": kernAVXVNNI, "avx2": kernAVX2}

func hasVecQuant() bool { return cpu.Has(cpu.AVX2) }
