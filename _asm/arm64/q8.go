//go:build generate

package main

import "fmt"

// The int8 GEMM kernels of internal/q8 (q8_arm64.s). Each computes one tile
// of 16 columns (one panel of the packed layout, see q8.Pack) by up to 4
// rows; rows past m alias row 0 and are not stored. Arguments (Go ABI0):
//
//	c+0 ldc+8 a+16 lda+24 m+32 b+40 k+48 panel+56 pf+64 rowSums+72
//
// k ≥ 4; nothing past an activation row is read: the k%4 (k%8) tail is
// read as the word ending at the row's end, shifted right.

// sdot is SDOT Vd.4S, Vn.16B, Vm.4B[idx] (FEAT_DotProd).
func sdot(d, n, m, idx int) string {
	w := 0x4F80E000 | (idx&1)<<21 | (m>>4&1)<<20 | (m&15)<<16 | (idx>>1)<<11 | n<<5 | d
	return fmt.Sprintf("WORD $0x%08x // SDOT V%d.S4, V%d.B16, V%d.B4[%d]", w, d, n, m, idx)
}

// usmmla is USMMLA Vd.4S, Vn.16B, Vm.16B (FEAT_I8MM): Vn holds two rows of
// eight unsigned bytes, Vm two rows of eight signed bytes, and
// Vd[2i+j] += Σ_t Vn[8i+t]·Vm[8j+t].
func usmmla(d, n, m int) string {
	w := 0x4E80AC00 | m<<16 | n<<5 | d
	return fmt.Sprintf("WORD $0x%08x // USMMLA V%d.S4, V%d.B16, V%d.B16", w, d, n, m)
}

const q8Args = "$0-80"

// q8Prologue loads the arguments: R0 = c, R1 = ldc in bytes, R2..R5 = the
// rows of a (rows ≥ m alias row 0), R6 = lda, R7 = m, R8 = b, R9 = k,
// R12 = rowSums.
func q8Prologue(g *gen, name string) {
	g.text(name, q8Args)
	g.op("MOVD c+0(FP), R0")
	g.op("MOVD ldc+8(FP), R1")
	g.op("LSL $2, R1, R1")
	g.op("MOVD a+16(FP), R2")
	g.op("MOVD lda+24(FP), R6")
	g.op("MOVD m+32(FP), R7")
	g.op("MOVD b+40(FP), R8")
	g.op("MOVD k+48(FP), R9")
	g.op("MOVD rowSums+72(FP), R12")
	g.op("MOVD R2, R3")
	g.op("MOVD R2, R4")
	g.op("MOVD R2, R5")
	for r := 1; r < 4; r++ {
		g.op("CMP $%d, R7", r+1)
		g.op("BLT %s_rows", name)
		g.op("ADD R6, R%d, R%d", r+1, r+2)
	}
	g.label(name + "_rows")
}

// tailWord loads into R11 the last t bytes of the row at Rrow (the row's
// unread part is t bytes, 1 ≤ t ≤ 3 in R13), zero-extended: the word
// ending at the row's end, shifted right by 32 − 8t (R15).
func tailWord(g *gen, row int) {
	g.op("MOVWU (R%d)(R14), R11", row)
	g.op("LSR R15, R11, R11")
}

// q8DotProd emits mulDotProd: SDOT on a−128 (the activations with their top
// bit flipped, as int8) and the weights, then + 128·rowSums[j]:
//
//	Σ_p a[p]·w[p] = Σ_p (a[p]−128)·w[p] + 128·Σ_p w[p]   (int32, wrapping)
//
// Accumulators V0..V15 (row i, columns 4r..4r+3 in V(4i+r)), weights
// V16..V19, activations V20..V23, V31 = 0x80 bytes.
func q8DotProd(g *gen) {
	name := "mulDotProd"
	q8Prologue(g, name)
	for v := range 16 {
		g.op("VEOR V%d.B16, V%d.B16, V%d.B16", v, v, v)
	}
	g.op("VMOVI $128, V31.B16")
	dots := func(idx int) {
		g.op("VLD1.P 64(R8), [V16.B16, V17.B16, V18.B16, V19.B16]")
		for i := range 4 {
			for r := range 4 {
				g.op(sdot(4*i+r, 16+r, 20+i, idx))
			}
		}
	}
	flip := func() {
		for i := range 4 {
			g.op("VEOR V31.B16, V%d.B16, V%d.B16", 20+i, 20+i)
		}
	}
	g.comment("16 k at a time: one 16-byte load per row, four quads of W")
	g.op("LSR $4, R9, R10")
	g.op("CBZ R10, %s_quads", name)
	g.label(name + "_loop16")
	for i := range 4 {
		g.op("VLD1.P 16(R%d), [V%d.B16]", 2+i, 20+i)
	}
	flip()
	for idx := range 4 {
		dots(idx)
	}
	g.op("SUB $1, R10, R10")
	g.op("CBNZ R10, %s_loop16", name)
	g.label(name + "_quads")
	g.comment("the remaining whole quads of k")
	g.op("AND $15, R9, R10")
	g.op("LSR $2, R10, R10")
	g.op("CBZ R10, %s_tail", name)
	g.label(name + "_loop4")
	for i := range 4 {
		g.op("MOVWU.P 4(R%d), R11", 2+i)
		g.op("VMOV R11, V%d.S[0]", 20+i)
	}
	flip()
	dots(0)
	g.op("SUB $1, R10, R10")
	g.op("CBNZ R10, %s_loop4", name)
	g.label(name + "_tail")
	g.comment("k%4 = t left: the word ending at the row's end, shifted right by 32−8t")
	g.op("AND $3, R9, R13")
	g.op("CBZ R13, %s_store", name)
	g.op("SUB $4, R13, R14")
	g.op("MOVD $32, R15")
	g.op("SUB R13<<3, R15, R15")
	for i := range 4 {
		tailWord(g, 2+i)
		g.op("VMOV R11, V%d.S[0]", 20+i)
	}
	flip()
	dots(0)
	g.label(name + "_store")
	g.comment("+ 128·rowSums")
	g.op("VLD1 (R12), [V16.S4, V17.S4, V18.S4, V19.S4]")
	for r := range 4 {
		g.op("VSHL $7, V%d.S4, V%d.S4", 16+r, 16+r)
	}
	for i := range 4 {
		for r := range 4 {
			g.op("VADD V%d.S4, V%d.S4, V%d.S4", 16+r, 4*i+r, 4*i+r)
		}
	}
	q8Store(g, name, func(i int) [4]int { return [4]int{4 * i, 4*i + 1, 4*i + 2, 4*i + 3} })
}

// q8Store stores rows 0..m−1 (regs(i) holds row i's 16 sums) at c.
func q8Store(g *gen, name string, regs func(i int) [4]int) {
	for i := range 4 {
		if i > 0 {
			g.op("CMP $%d, R7", i+1)
			g.op("BLT %s_done", name)
			g.op("ADD R1, R0, R0")
		}
		r := regs(i)
		g.op("VST1 [V%d.S4, V%d.S4, V%d.S4, V%d.S4], (R0)", r[0], r[1], r[2], r[3])
	}
	g.label(name + "_done")
	g.op("RET")
}

// q8I8MM emits mulI8MM: USMMLA on 2×8 blocks, eight k at a time. The packed
// quads hold four k per column; ZIP1/ZIP2 of two consecutive quads' words
// give two columns' eight k each. Accumulators V0..V15: row pair rp (rows
// 2rp, 2rp+1), column pair cp (columns 2cp, 2cp+1) in V(8rp+cp), laid out
// [r0c0 r0c1 r1c0 r1c1]. Weights V16..V23 (quads q and q+1), zipped V24,
// V25; activations V26..V29, row pairs V30, V31.
func q8I8MM(g *gen) {
	name := "mulI8MM"
	q8Prologue(g, name)
	for v := range 16 {
		g.op("VEOR V%d.B16, V%d.B16, V%d.B16", v, v, v)
	}
	block := func() {
		g.op("VZIP1 V27.D2, V26.D2, V30.D2")
		g.op("VZIP1 V29.D2, V28.D2, V31.D2")
		for q := range 4 {
			g.op("VZIP1 V%d.S4, V%d.S4, V24.S4", 20+q, 16+q)
			g.op("VZIP2 V%d.S4, V%d.S4, V25.S4", 20+q, 16+q)
			for rp := range 2 {
				g.op(usmmla(8*rp+2*q, 30+rp, 24))
				g.op(usmmla(8*rp+2*q+1, 30+rp, 25))
			}
		}
	}
	g.comment("8 k at a time")
	g.op("LSR $3, R9, R10")
	g.op("CBZ R10, %s_tail", name)
	g.label(name + "_loop8")
	for i := range 4 {
		g.op("VLD1.P 8(R%d), [V%d.B8]", 2+i, 26+i)
	}
	g.op("VLD1.P 64(R8), [V16.B16, V17.B16, V18.B16, V19.B16]")
	g.op("VLD1.P 64(R8), [V20.B16, V21.B16, V22.B16, V23.B16]")
	block()
	g.op("SUB $1, R10, R10")
	g.op("CBNZ R10, %s_loop8", name)
	g.label(name + "_tail")
	g.comment("k%8 = t left (1..7), zero-extended to 8 bytes; one quad of W if t ≤ 4")
	g.op("AND $7, R9, R13")
	g.op("CBZ R13, %s_store", name)
	g.op("CMP $4, R13")
	g.op("BGT %s_tail2", name)
	g.comment("t ≤ 4: the word ending at the row's end, shifted right by 32−8t")
	g.op("SUB $4, R13, R14")
	g.op("MOVD $32, R15")
	g.op("SUB R13<<3, R15, R15")
	for i := range 4 {
		tailWord(g, 2+i)
		g.op("VMOV R11, V%d.D[0]", 26+i)
	}
	g.op("VLD1 (R8), [V16.B16, V17.B16, V18.B16, V19.B16]")
	for q := range 4 {
		g.op("VEOR V%d.B16, V%d.B16, V%d.B16", 20+q, 20+q, 20+q)
	}
	g.op("B %s_last", name)
	g.label(name + "_tail2")
	g.comment("t > 4: a whole word, then the word ending at the row's end shifted right by 64−8t")
	g.op("SUB $4, R13, R14")
	g.op("MOVD $64, R15")
	g.op("SUB R13<<3, R15, R15")
	for i := range 4 {
		g.op("MOVWU (R%d)(R14), R11", 2+i)
		g.op("MOVWU (R%d), R19", 2+i)
		g.op("LSR R15, R11, R11")
		g.op("ORR R11<<32, R19, R11")
		g.op("VMOV R11, V%d.D[0]", 26+i)
	}
	g.op("VLD1.P 64(R8), [V16.B16, V17.B16, V18.B16, V19.B16]")
	g.op("VLD1 (R8), [V20.B16, V21.B16, V22.B16, V23.B16]")
	g.label(name + "_last")
	block()
	g.label(name + "_store")
	g.comment("unzip the 2×2 blocks into rows: row 2rp in V16..V19, row 2rp+1 in V20..V23")
	for rp := range 2 {
		for c := range 4 {
			a, b := 8*rp+2*c, 8*rp+2*c+1
			g.op("VUZP1 V%d.D2, V%d.D2, V%d.D2", b, a, 16+c)
			g.op("VUZP2 V%d.D2, V%d.D2, V%d.D2", b, a, 20+c)
		}
		for v := range 8 {
			g.op("VMOV V%d.B16, V%d.B16", 16+v, 8*rp+v)
		}
	}
	q8Store(g, name, func(i int) [4]int {
		b := 8*(i/2) + 4*(i%2)
		return [4]int{b, b + 1, b + 2, b + 3}
	})
}

// q8Peak emits the register-only inner steps of each kernel for PeakGOPS:
// 4 rows × 16 columns × 4 multiply-adds per step (the i8mm step is half of
// its 8-k block: 16 USMMLA of 32 multiply-adds, twice 4·16·4).
func q8Peak(g *gen) {
	g.text("peakDotProd", "$0-8")
	g.op("MOVD n+0(FP), R0")
	g.label("peakDotProd_loop")
	for i := range 4 {
		for r := range 4 {
			g.op(sdot(4*i+r, 16+r, 20+i, 0))
		}
	}
	g.op("SUB $1, R0, R0")
	g.op("CBNZ R0, peakDotProd_loop")
	g.op("RET")

	g.text("peakI8MM", "$0-8")
	g.op("MOVD n+0(FP), R0")
	g.label("peakI8MM_loop")
	for q := range 4 {
		for rp := range 2 {
			g.op(usmmla(8*rp+2*q, 30+rp, 24+q%2))
		}
	}
	g.op("SUB $1, R0, R0")
	g.op("CBNZ R0, peakI8MM_loop")
	g.op("RET")
}

func genQ8(g *gen) {
	q8DotProd(g)
	q8I8MM(g)
	q8Peak(g)
}
