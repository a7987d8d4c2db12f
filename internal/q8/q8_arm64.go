//go:build !purego

package q8

import (
	"unsafe"

	"github.com/lstmq/lstmq/internal/cpu"
)

// The arm64 GEMM kernels compute one tile: rows 0..m-1 of the activations
// (1 ≤ m ≤ 4; a has row stride lda bytes, k ≥ 4) times the 16 columns of the
// packed panel b (see Packed), into c (row stride ldc elements). rowSums
// holds the panel's 16 row sums Σ_p W[j][p]. They read nothing past the end
// of an activation row and ignore pf (no software prefetch). Reference loop:
//
//	for i := 0; i < m; i++ {
//		for j := 0; j < 16; j++ {
//			var s int32
//			for p := 0; p < k; p++ {
//				s += int32(a[i*lda+p]) * int32(W[j][p]) // W[j][p] = b[(p/4)*64 + 4*j + p%4]
//			}
//			c[i*ldc+j] = s
//		}
//	}

// mulDotProd is the tile kernel with SDOT (FEAT_DotProd). SDOT multiplies
// int8 by int8, so it runs on a−128 (the activation's top bit flipped) and
// adds 128·rowSums[j] back: Σ a·w = Σ (a−128)·w + 128·Σ w, exact in
// wrapping int32.
//
//go:noescape
func mulDotProd(c *int32, ldc int, a *uint8, lda int, m int, b *int8, k int, panel int, pf int, rowSums *int32)

// mulI8MM is the tile kernel with USMMLA (FEAT_I8MM, u8×s8 natively): 2×2
// blocks of rows and columns, eight k at a time, the columns' eight k
// gathered from two packed quads with ZIP1/ZIP2.
//
//go:noescape
func mulI8MM(c *int32, ldc int, a *uint8, lda int, m int, b *int8, k int, panel int, pf int, rowSums *int32)

// peakDotProd and peakI8MM run n register-only steps of their kernel's
// tile (4 rows × 16 columns × 4 multiply-adds each), for PeakGOPS.
//
//go:noescape
func peakDotProd(n int)

//go:noescape
func peakI8MM(n int)

const (
	asmDotProd = 1 + iota
	asmI8MM
)

var (
	kernDotProd = &kernel{name: "dotprod", cols: 16, rows: 4, maxU8: 255, asm: asmDotProd}
	kernI8MM    = &kernel{name: "i8mm", cols: 16, rows: 4, maxU8: 255, asm: asmI8MM}
)

func (k *kernel) mul(c *int32, ldc int, a *uint8, lda int, m int, b *int8, kk int, panel int, pf int, rowSums *int32) {
	switch k.asm {
	case asmDotProd:
		mulDotProd(c, ldc, a, lda, m, b, kk, panel, pf, rowSums)
	case asmI8MM:
		mulI8MM(c, ldc, a, lda, m, b, kk, panel, pf, rowSums)
	}
}

// deq is mul with MulU8Dequant's epilogue, run in Go on the tile's sums
// (dequantRow, the reference's own arithmetic).
func (k *kernel) deq(d *float32, ldd int, a *uint8, lda int, m int, b *int8, kk int, panel int, pf int, rowSums *int32, scales *float32, bias *float32, sa float32, za int32) {
	var s [4 * 16]int32
	k.mul(&s[0], 16, a, lda, m, b, kk, panel, pf, rowSums)
	rs, sc, bb := unsafe.Slice(rowSums, 16), unsafe.Slice(scales, 16), optSlice(bias)
	for i := range m {
		dequantRow(unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(d), 4*i*ldd)), 16), s[16*i:16*i+16], rs, sc, bb, sa, za)
	}
}

// deqBlocks and prepBlocks are never called: no arm64 kernel has a
// block-scaled kernel (kernel.blocks), so block-scaled products run the
// integer kernels block by block (blockMulTiles).
func (k *kernel) deqBlocks(split bool, d *float32, ldd int, a *uint8, lda int, m int, b *int8, kk int, panel int, pf int, consts *int32, scales *float32, bias *float32, sa float32, block, flags int) {
	panic("q8: no block-scaled kernel")
}

func (k *kernel) prepBlocks(c *int32, rowSums *int32, scales *float32, nb int, za int32) {
	panic("q8: no block-scaled kernel")
}

// oneDNN is mul with MulU8OneDNN's epilogue (oneDNNRow), in Go.
func (k *kernel) oneDNN(d *float32, ldd int, a *uint8, lda int, m int, b *int8, kk int, panel int, pf int, rowSums *int32, scales *float32, bias *float32, za int32) {
	var s [4 * 16]int32
	k.mul(&s[0], 16, a, lda, m, b, kk, panel, pf, rowSums)
	rs, osc, bq := unsafe.Slice(rowSums, 16), unsafe.Slice(scales, 16), optSlice(bias)
	for i := range m {
		oneDNNRow(unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(d), 4*i*ldd)), 16), s[16*i:16*i+16], rs, osc, bq, za)
	}
}

// optSlice returns the 16 floats at p, or nil if p is nil.
func optSlice(p *float32) []float32 {
	if p == nil {
		return nil
	}
	return unsafe.Slice(p, 16)
}

func (k *kernel) peak(n int) {
	switch k.asm {
	case asmDotProd:
		peakDotProd(n)
	case asmI8MM:
		peakI8MM(n)
	}
}

// impls are the assembly kernels, best first (cpu.Register). A core with
// NEON but not the dot product runs the reference.
var impls = []cpu.Impl{{Name: "i8mm", Level: cpu.I8MM}, {Name: "dotprod", Level: cpu.DotProd}}

var byName = map[string]*kernel{"i8mm": kernI8MM, "dotprod": kernDotProd}

// QuantizeU8 and MinMax have no NEON kernels yet: their vector hooks run
// the references.

func hasVecQuant() bool { return false }

func quantizeAVX2(dst *uint8, x *float32, n int, invScale float32, zp int32, qmax int32) {
	quantizeGeneric(unsafe.Slice(dst, n), unsafe.Slice(x, n), invScale, zp, qmax)
}

func minMaxAVX2(x *float32, n int) (lo, hi float32) { return minMaxGeneric(unsafe.Slice(x, n)) }
