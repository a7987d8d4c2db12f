//go:build generate

package main

import (
	"fmt"
	"math"
)

// The kernels of internal/f32's LogSumExpPortable on arm64: the vectorized
// exp of the amd64 kernels (Cephes' expf, see internal/f32's package doc)
// instruction for instruction (FMLS/FMLA for VFNMADD/VFMADD, FRINTN for
// VROUNDPS, FMINNM for VMINPS: a quiet NaN becomes 88), and the AVX2
// kernel's float64 summation order.

// neon returns the WORD of a three-register (d, n, m) instruction.
func neon(op string, base, d, n, m int) string {
	return fmt.Sprintf("WORD $0x%08x // %s V%d, V%d, V%d", base|m<<16|n<<5|d, op, d, n, m)
}

// neon2 returns the WORD of a two-register (d, n) instruction.
func neon2(op string, base, d, n int) string {
	return fmt.Sprintf("WORD $0x%08x // %s V%d, V%d", base|n<<5|d, op, d, n)
}

const (
	opFMINNM = 0x4ea0c400 // .4S
	opFMAX   = 0x4e20f400 // .4S
	opFMUL   = 0x6e20dc00 // .4S
	opFADD   = 0x4e20d400 // .4S
	opFSUB   = 0x4ea0d400 // .4S
	opFADD2D = 0x4e60d400 // .2D
	opFRINTN = 0x4e218800 // .4S
	opFCVTZS = 0x4ea1b800 // .4S
	opFCVTL  = 0x0e617800 // .2D from the low .2S
	opFCVTL2 = 0x4e617800 // .2D from the high .2S
	opFADDP  = 0x7e70d800 // scalar Dd from Vn.2D
	opFMAXV  = 0x6e30f800 // scalar Sd from Vn.4S
)

// Constant registers of sumExpNEON.
const (
	kHi = 16 + iota
	kLo
	kLog2e
	kC1
	kC2
	kP0
	kP1
	kP2
	kP3
	kP4
	kP5
	kOne
	kBias // int32 127
	kSub
)

// cephes emits exp of the four floats in x into p; t, n, q and z are
// scratch.
func cephes(g *gen, x, t, n, p, q, z int) {
	g.op(neon("FMINNM", opFMINNM, t, x, kHi))
	g.op(neon("FMAX", opFMAX, t, t, kLo))
	g.op(neon("FMUL", opFMUL, n, t, kLog2e))
	g.op(neon2("FRINTN", opFRINTN, n, n))
	g.op("VFMLS V%d.S4, V%d.S4, V%d.S4", kC1, n, t) // t −= n·C1
	g.op("VFMLS V%d.S4, V%d.S4, V%d.S4", kC2, n, t) // t −= n·C2
	g.op("VMOV V%d.B16, V%d.B16", kP0, p)
	for _, c := range []int{kP1, kP2, kP3, kP4, kP5} {
		g.op("VMOV V%d.B16, V%d.B16", c, q)
		g.op("VFMLA V%d.S4, V%d.S4, V%d.S4", t, p, q) // q = c + p·t
		g.op("VMOV V%d.B16, V%d.B16", q, p)
	}
	g.op(neon("FMUL", opFMUL, z, t, t))
	g.op("VFMLA V%d.S4, V%d.S4, V%d.S4", z, p, t) // t = t + p·t²
	g.op(neon("FADD", opFADD, p, t, kOne))
	g.op(neon2("FCVTZS", opFCVTZS, n, n))
	g.op("VADD V%d.S4, V%d.S4, V%d.S4", kBias, n, n)
	g.op("VSHL $23, V%d.S4, V%d.S4", n, n)
	g.op(neon("FMUL", opFMUL, p, p, n))
}

func lseKernels(g *gen) {
	// sumExpNEON(x *float32, n int, sub float32) float64, n a multiple of 8.
	g.text("sumExpNEON", "$0-32")
	g.op("MOVD x+0(FP), R0")
	g.op("MOVD n+8(FP), R1")
	g.op("FMOVS sub+16(FP), F%d", kSub)
	g.op("VDUP V%d.S[0], V%d.S4", kSub, kSub)
	for _, c := range []struct {
		reg int
		v   float32
	}{
		{kHi, 88.0}, {kLo, -87.33654475}, {kLog2e, 1.44269504088896341}, {kC1, 0.693359375}, {kC2, -2.12194440e-4},
		{kP0, 1.9875691500e-4}, {kP1, 1.3981999507e-3}, {kP2, 8.3334519073e-3}, {kP3, 4.1665795894e-2},
		{kP4, 1.6666665459e-1}, {kP5, 5.0000001201e-1}, {kOne, 1},
	} {
		g.op("MOVW $0x%08x, R2 // %v", math.Float32bits(c.v), c.v)
		g.op("VDUP R2, V%d.S4", c.reg)
	}
	g.op("MOVW $127, R2")
	g.op("VDUP R2, V%d.S4", kBias)
	for v := range 4 {
		g.op("VEOR V%d.B16, V%d.B16, V%d.B16", v, v, v)
	}
	g.op("LSR $3, R1, R1")
	g.op("CBZ R1, sumExpNEON_done")
	g.label("sumExpNEON_loop")
	g.op("VLD1.P 32(R0), [V4.S4, V5.S4]")
	g.op(neon("FSUB", opFSUB, 4, 4, kSub))
	g.op(neon("FSUB", opFSUB, 5, 5, kSub))
	cephes(g, 4, 6, 7, 8, 9, 14)
	cephes(g, 5, 10, 11, 12, 13, 15)
	comment := "lanes: elements 0,1 → V0; 2,3 → V1; 4,5 → V2; 6,7 → V3"
	g.comment(comment)
	g.op(neon2("FCVTL", opFCVTL, 4, 8))
	g.op(neon2("FCVTL2", opFCVTL2, 5, 8))
	g.op(neon2("FCVTL", opFCVTL, 6, 12))
	g.op(neon2("FCVTL2", opFCVTL2, 7, 12))
	for v := range 4 {
		g.op(neon("FADD.2D", opFADD2D, v, v, 4+v))
	}
	g.op("SUB $1, R1, R1")
	g.op("CBNZ R1, sumExpNEON_loop")
	g.label("sumExpNEON_done")
	g.comment("((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7)), as the AVX2 kernel's reduction")
	g.op(neon("FADD.2D", opFADD2D, 0, 0, 2))
	g.op(neon("FADD.2D", opFADD2D, 1, 1, 3))
	g.op(neon("FADD.2D", opFADD2D, 0, 0, 1))
	g.op(neon2("FADDP", opFADDP, 0, 0))
	g.op("FMOVD F0, ret+24(FP)")
	g.op("RET")

	// maxNEON(x *float32, n int) float32, n a positive multiple of 4.
	g.text("maxNEON", "$0-20")
	g.op("MOVD x+0(FP), R0")
	g.op("MOVD n+8(FP), R1")
	g.op("VLD1.P 16(R0), [V0.S4]")
	g.op("LSR $2, R1, R1")
	g.op("SUB $1, R1, R1")
	g.op("CBZ R1, maxNEON_done")
	g.label("maxNEON_loop")
	g.op("VLD1.P 16(R0), [V1.S4]")
	g.op(neon("FMAX", opFMAX, 0, 0, 1))
	g.op("SUB $1, R1, R1")
	g.op("CBNZ R1, maxNEON_loop")
	g.label("maxNEON_done")
	g.op(neon2("FMAXV", opFMAXV, 0, 0))
	g.op("FMOVS F0, ret+16(FP)")
	g.op("RET")
}
