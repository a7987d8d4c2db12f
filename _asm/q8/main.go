// Command q8 generates the int8 kernels of github.com/lstmq/lstmq/internal/q8
// (internal/q8/q8_amd64.s). Run it through go generate in internal/q8.
//
// Weight layout read by every GEMM kernel (built by q8.Pack): W (n×k) is cut
// into panels of 16 outputs; a panel holds ceil(k/4) quads of 64 bytes, quad
// q holding W[j0+c, 4q+t] at byte 4c+t (c < 16, t < 4), zero past k. One quad
// is one zmm operand of VPDPBUSD (16 int32 lanes, each the dot product of
// four u8 activations with four s8 weights), or two ymm operands (columns
// 0..7 at byte 0, 8..15 at byte 32).
//
// A kernel call computes one tile: rows 0..m-1 of the activations (m ≤ the
// kernel's row count) times one tile of columns (64 for the AVX-512 kernel,
// 16 for the 256-bit ones). The k%4 tail of each activation row is read as
// the dword ending at the row's end, shifted right, so nothing past the
// row is read (the caller guarantees k ≥ 4).
//
// The block-scaled kernels (blocks.go) read the same layout, plus the row
// sums and scales of every block (see blocks.go).
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// General-purpose register assignment (physical registers throughout).
var (
	a0   = RSI // activation rows 0..2 base
	a3   = RDI // activation rows 3..5 base
	lda  = R8  // activation row stride, bytes
	b0   = R9  // panel 0 (and 1, 2 via panel stride)
	b3   = R10 // panel 3
	pan  = R11 // panel stride, bytes
	cnt  = R12 // loop counter
	kk   = R13 // k
	mm   = RBX // m
	tmp  = R14 // scratch
	tmp2 = RDX // scratch
)

// kernel describes one GEMM microkernel family.
type kernel struct {
	name    string
	rows    int // maximum m per call
	vecs    int // vectors per tile row (columns = vecs*lanes)
	lanes   int // int32 lanes per vector
	acc     func(i, r int) VecPhysical
	w       func(r int) VecPhysical
	bc      VecPhysical
	zero    func(v VecPhysical)
	dot     func(w, bc, acc VecPhysical, r int) // acc += bc(u8) · w(s8)
	prepare func()                              // constants before the loop
}

func main() {
	ConstraintExpr("!purego")

	vnni := kernel{
		name: "VNNI", rows: 6, vecs: 4, lanes: 16,
		acc:  func(i, r int) VecPhysical { return zmm(i*4 + r) },
		w:    func(r int) VecPhysical { return zmm(24 + r) },
		bc:   Z28,
		zero: func(v VecPhysical) { VPXORD(v, v, v) },
		dot:  func(w, bc, acc VecPhysical, _ int) { VPDPBUSD(w, bc, acc) },
	}
	avx2 := kernel{
		name: "AVX2", rows: 4, vecs: 2, lanes: 8,
		acc:  func(i, r int) VecPhysical { return ymm(i*2 + r) },
		w:    func(r int) VecPhysical { return ymm(8 + r) },
		bc:   Y10,
		zero: func(v VecPhysical) { VPXOR(v, v, v) },
		dot: func(w, bc, acc VecPhysical, r int) {
			t := ymm(12 + r)
			VPMADDUBSW(w, bc, t) // int16 pairs a0w0+a1w1 (saturating)
			VPMADDWD(Y11, t, t)  // int32 sums of pairs
			VPADDD(t, acc, acc)
		},
		prepare: func() {
			Comment("Y11 = int16 ones")
			VPCMPEQW(Y11, Y11, Y11)
			VPSRLW(U8(15), Y11, Y11)
		},
	}
	avxvnni := kernel{
		name: "AVXVNNI", rows: 6, vecs: 2, lanes: 8,
		acc:  func(i, r int) VecPhysical { return ymm(i*2 + r) },
		w:    func(r int) VecPhysical { return ymm(12 + r) },
		bc:   Y14,
		zero: func(v VecPhysical) { VPXOR(v, v, v) },
		dot:  func(w, bc, acc VecPhysical, _ int) { vexVPDPBUSD(w, bc, acc) },
	}
	for _, k := range []kernel{vnni, avx2, avxvnni} {
		gemm(k, modeMul)
		gemm(k, modeDequant)
		gemm(k, modeOneDNN)
	}
	for _, k := range blockKernels() {
		gemmBlocks(k)
	}
	prepBlocks(64, true)
	prepBlocks(16, false)
	quantize()
	minMax()
	for _, k := range []kernel{vnni, avx2, avxvnni} {
		peak(k)
	}
	Generate()
}

func zmm(i int) VecPhysical {
	return []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15, Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}[i]
}
func ymm(i int) VecPhysical {
	return []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}[i]
}

// vexVPDPBUSD emits the VEX-encoded (AVX-VNNI) VPDPBUSD acc, bc, w, which the
// Go assembler does not know: VEX.256.66.0F38.W0 50 /r.
func vexVPDPBUSD(w, bc, acc VecPhysical) {
	d, s1, s2 := acc.PhysicalIndex(), bc.PhysicalIndex(), w.PhysicalIndex()
	b1 := byte(0x40 | 0x02) // ~X set, map 0F38
	if d < 8 {
		b1 |= 0x80 // ~R
	}
	if s2 < 8 {
		b1 |= 0x20 // ~B
	}
	b2 := byte((^s1&15)<<3 | 0x04 | 0x01) // W0, vvvv, L=256, pp=66
	modrm := byte(0xc0 | (d&7)<<3 | s2&7)
	Comment(fmt.Sprintf("VPDPBUSD (AVX-VNNI) %s, %s, %s", w.Asm(), bc.Asm(), acc.Asm()))
	for _, x := range []byte{0xc4, b1, b2, 0x50, modrm} {
		Instruction(&ir.Instruction{Opcode: "BYTE", Operands: []Op{U8(x)}})
	}
}

// rowAddr is the address of activation (or output) row i given bases for rows
// 0 and 3 and the row stride.
func rowAddr(base0, base3, stride Register, i, disp int) Mem {
	switch i {
	case 0:
		return Mem{Base: base0, Disp: disp}
	case 1:
		return Mem{Base: base0, Index: stride, Scale: 1, Disp: disp}
	case 2:
		return Mem{Base: base0, Index: stride, Scale: 2, Disp: disp}
	case 3:
		return Mem{Base: base3, Disp: disp}
	case 4:
		return Mem{Base: base3, Index: stride, Scale: 1, Disp: disp}
	case 5:
		return Mem{Base: base3, Index: stride, Scale: 2, Disp: disp}
	}
	panic("row")
}

// panelAddr is the address of vector r of the quad disp bytes ahead.
func (k kernel) panelAddr(r, disp int) Mem {
	if k.lanes == 16 {
		switch r {
		case 0:
			return Mem{Base: b0, Disp: disp}
		case 1:
			return Mem{Base: b0, Index: pan, Scale: 1, Disp: disp}
		case 2:
			return Mem{Base: b0, Index: pan, Scale: 2, Disp: disp}
		case 3:
			return Mem{Base: b3, Disp: disp}
		}
	}
	return Mem{Base: b0, Disp: 32*r + disp}
}

func (k kernel) load(m Mem, v VecPhysical) {
	if k.lanes == 16 {
		VMOVDQU64(m, v)
	} else {
		VMOVDQU(m, v)
	}
}

// The kernels' epilogues: the int32 sums, FBGEMM's dequantization, or
// oneDNN's.
const (
	modeMul     = iota // c = acc
	modeDequant        // d = float32(acc − za·rowSums)·(sa·scales) + bias
	modeOneDNN         // d = (float32(acc − za·rowSums) + bias)·scales
)

func gemm(k kernel, mode int) {
	cols := k.vecs * k.lanes
	dequant := mode != modeMul
	name := []string{"mul", "mulDequant", "mulOneDNN"}[mode] + k.name
	var sig string
	if dequant {
		sig = "func(d *float32, ldd int, a *uint8, lda int, m int, b *int8, k int, panel int, pf int, rowSums *int32, scales *float32, bias *float32, sa float32, za int32)"
	} else {
		sig = "func(c *int32, ldc int, a *uint8, lda int, m int, b *int8, k int, panel int, pf int)"
	}
	TEXT(name, NOSPLIT, sig)
	Doc(fmt.Sprintf("%s computes one %d-column tile of %s; see q8_amd64.go.", name, cols,
		[]string{"MulU8", "MulU8Dequant", "MulU8OneDNN"}[mode]))
	Load(Param("a"), a0)
	Load(Param("lda"), lda)
	Load(Param("m"), mm)
	Load(Param("b"), b0)
	Load(Param("k"), kk)
	Load(Param("panel"), pan)
	Load(Param("pf"), RAX)
	LEAQ(Mem{Base: lda, Index: lda, Scale: 2}, a3)
	ADDQ(a0, a3)
	LEAQ(Mem{Base: pan, Index: pan, Scale: 2}, b3)
	ADDQ(b0, b3)
	if k.prepare != nil {
		k.prepare()
	}
	if dequant && k.lanes == 16 {
		Comment("Z29 = za, Z30 = sa (loaded before X15/Z15 holds an accumulator)")
		Load(Param("sa"), X15)
		VBROADCASTSS(X15, Z30)
		Load(Param("za"), tmp2.As32())
		VPBROADCASTD(tmp2.As32(), Z29)
	}
	for mr := 1; mr < k.rows; mr++ {
		CMPQ(mm, U8(mr))
		JE(LabelRef(fmt.Sprintf("rows%d", mr)))
	}
	for mr := k.rows; mr >= 1; mr-- {
		Label(fmt.Sprintf("rows%d", mr))
		body(k, mr, mode)
	}
}

func body(k kernel, mr int, mode int) {
	dequant := mode != modeMul
	l := func(s string) string { return fmt.Sprintf("%s%d", s, mr) }
	for i := 0; i < mr; i++ {
		for r := 0; r < k.vecs; r++ {
			k.zero(k.acc(i, r))
		}
	}
	Comment("pf != 0: prefetch the next tile's weights while streaming this one")
	TESTQ(RAX, RAX)
	JZ(LabelRef(l("nopf")))
	if k.lanes == 16 {
		LEAQ(Mem{Base: b3, Index: pan, Scale: 2}, RAX)
		ADDQ(pan, RAX) // panel 6 of this tile = panel 2 of the next
	}
	loops(k, mr, true, l)
	JMP(LabelRef(l("tail")))
	Label(l("nopf"))
	loops(k, mr, false, l)

	Label(l("tail"))
	Comment("k%4 tail: the dword ending at each row's end, shifted right")
	MOVQ(kk, RCX)
	ANDQ(U8(3), RCX)
	JZ(LabelRef(l("store")))
	NEGQ(RCX)
	ADDQ(U8(4), RCX) // 4 - k%4 bytes to drop
	SUBQ(RCX, a0)
	SUBQ(RCX, a3)
	SHLQ(U8(3), RCX)
	for r := 0; r < k.vecs; r++ {
		k.load(k.panelAddr(r, 0), k.w(r))
	}
	for i := 0; i < mr; i++ {
		MOVL(rowAddr(a0, a3, lda, i, 0), tmp.As32())
		SHRL(CL, tmp.As32())
		if k.lanes == 16 {
			VPBROADCASTD(tmp.As32(), k.bc)
		} else {
			x := X(k.bc)
			VMOVD(tmp.As32(), x)
			VPBROADCASTD(x, k.bc)
		}
		for r := 0; r < k.vecs; r++ {
			k.dot(k.w(r), k.bc, k.acc(i, r), r)
		}
	}

	Label(l("store"))
	// Output bases: b0 = row 0, b3 = row 3, pan = row stride in bytes.
	if dequant {
		Load(Param("d"), b0)
		Load(Param("ldd"), pan)
	} else {
		Load(Param("c"), b0)
		Load(Param("ldc"), pan)
	}
	SHLQ(U8(2), pan)
	LEAQ(Mem{Base: pan, Index: pan, Scale: 2}, b3)
	ADDQ(b0, b3)
	if !dequant {
		for i := 0; i < mr; i++ {
			for r := 0; r < k.vecs; r++ {
				k.storeInt(k.acc(i, r), rowAddr(b0, b3, pan, i, r*4*k.lanes))
			}
		}
		VZEROUPPER()
		RET()
		return
	}
	Load(Param("rowSums"), cnt)
	Load(Param("scales"), kk)
	Load(Param("bias"), tmp)
	if k.lanes != 16 {
		Load(Param("za"), tmp2.As32())
		Load(Param("sa"), X15)
	}
	TESTQ(tmp, tmp)
	JZ(LabelRef(l("nobias")))
	epilogue(k, mr, true, mode == modeOneDNN)
	Label(l("nobias"))
	epilogue(k, mr, false, mode == modeOneDNN)
}

func (k kernel) storeInt(v VecPhysical, m Mem) {
	if k.lanes == 16 {
		VMOVDQU32(v, m)
	} else {
		VMOVDQU(v, m)
	}
}

// epilogue writes d[i, j] = float32(acc[i,j] − za·rowSums[j])·(sa·scales[j]) (+ bias[j]),
// or with onednn d[i, j] = (float32(acc[i,j] − za·rowSums[j]) (+ bias[j]))·scales[j].
func epilogue(k kernel, mr int, bias, onednn bool) {
	// Temporaries: the weight registers and the broadcast register are free.
	t1, t2, t3 := k.w(0), k.w(1), k.bc
	zav, sav := Z29, Z30 // AVX-512 only
	for r := 0; r < k.vecs; r++ {
		off := r * 4 * k.lanes
		switch {
		case k.lanes == 16:
			VPMULLD(Mem{Base: cnt, Disp: off}, zav, t1)
		default:
			VMOVD(tmp2.As32(), X(t3))
			VPBROADCASTD(X(t3), t3)
			VPMULLD(Mem{Base: cnt, Disp: off}, t3, t1)
		}
		switch {
		case onednn:
			VMOVUPS(Mem{Base: kk, Disp: off}, t2) // the output scales
		case k.lanes == 16:
			VMULPS(Mem{Base: kk, Disp: off}, sav, t2)
		default:
			VBROADCASTSS(X15, t3)
			VMULPS(Mem{Base: kk, Disp: off}, t3, t2)
		}
		if bias {
			VMOVUPS(Mem{Base: tmp, Disp: off}, t3)
		}
		for i := 0; i < mr; i++ {
			a := k.acc(i, r)
			VPSUBD(t1, a, a)
			VCVTDQ2PS(a, a)
			if onednn {
				if bias {
					VADDPS(t3, a, a)
				}
				VMULPS(t2, a, a)
			} else {
				VMULPS(t2, a, a)
				if bias {
					VADDPS(t3, a, a)
				}
			}
			VMOVUPS(a, rowAddr(b0, b3, pan, i, off))
		}
	}
	VZEROUPPER()
	RET()
}

// X returns the xmm register under a ymm/zmm register.
func X(v VecPhysical) VecPhysical {
	return []VecPhysical{X0, X1, X2, X3, X4, X5, X6, X7, X8, X9, X10, X11, X12, X13, X14, X15}[v.PhysicalIndex()]
}

// quantize generates quantizeAVX2, the 32-wide body of QuantizeU8.
func quantize() {
	perm := GLOBL("permPack", RODATA|NOPTR)
	for i, v := range []uint32{0, 4, 1, 5, 2, 6, 3, 7} {
		DATA(4*i, U32(v))
	}
	TEXT("quantizeAVX2", NOSPLIT, "func(dst *uint8, x *float32, n int, invScale float32, zp int32, qmax int32)")
	Doc("quantizeAVX2 is QuantizeU8 for n a multiple of 32; see q8_amd64.go.")
	dst, x, n := RDI, RSI, RCX
	Load(Param("dst"), dst)
	Load(Param("x"), x)
	Load(Param("n"), n)
	Load(Param("invScale"), X15)
	VBROADCASTSS(X15, Y15) // inverse scale
	Load(Param("zp"), RAX.As32())
	VMOVD(EAX, X14)
	VPBROADCASTD(X14, Y14)
	VCVTDQ2PS(Y14, Y14) // float32(zp)
	Load(Param("qmax"), RAX.As32())
	VMOVD(EAX, X13)
	VPBROADCASTD(X13, Y13) // qmax
	MOVL(U32(0x4effffff), EAX)
	VMOVD(EAX, X12)
	VPBROADCASTD(X12, Y12) // 2147483520.0f, the largest float32 below 2^31
	VPXOR(Y11, Y11, Y11)   // 0
	VMOVDQU(perm, Y10)
	SHRQ(U8(5), n)
	JZ(LabelRef("qdone"))
	Label("qloop")
	for i := 0; i < 4; i++ {
		v := ymm(i)
		VMOVAPS(Y14, v)
		VFMADD231PS(Mem{Base: x, Disp: 32 * i}, Y15, v) // x·inv + zp, one rounding
		VMINPS(Y12, v, v)                               // NaN → Y12, like _mm256_min_ps(v, c)
		VCVTPS2DQ(v, v)                                 // round half to even
		VPMAXSD(Y11, v, v)
		VPMINSD(Y13, v, v)
	}
	VPACKSSDW(Y1, Y0, Y0)
	VPACKSSDW(Y3, Y2, Y2)
	VPACKUSWB(Y2, Y0, Y0)
	VPERMD(Y0, Y10, Y0)
	VMOVDQU(Y0, Mem{Base: dst})
	ADDQ(U8(128), x)
	ADDQ(U8(32), dst)
	DECQ(n)
	JNZ(LabelRef("qloop"))
	Label("qdone")
	VZEROUPPER()
	RET()
}

// minMax generates minMaxAVX2 over n (a positive multiple of 8) floats.
func minMax() {
	TEXT("minMaxAVX2", NOSPLIT, "func(x *float32, n int) (lo, hi float32)")
	Doc("minMaxAVX2 is MinMax for n a positive multiple of 8; see q8_amd64.go.")
	x, n := RSI, RCX
	Load(Param("x"), x)
	Load(Param("n"), n)
	VMOVUPS(Mem{Base: x}, Y0)
	VMOVAPS(Y0, Y1)
	ADDQ(U8(32), x)
	SHRQ(U8(3), n)
	DECQ(n)
	JZ(LabelRef("mmreduce"))
	Label("mmloop")
	VMINPS(Mem{Base: x}, Y0, Y0)
	VMAXPS(Mem{Base: x}, Y1, Y1)
	ADDQ(U8(32), x)
	DECQ(n)
	JNZ(LabelRef("mmloop"))
	Label("mmreduce")
	VEXTRACTF128(U8(1), Y0, X2)
	VMINPS(X2, X0, X0)
	VEXTRACTF128(U8(1), Y1, X3)
	VMAXPS(X3, X1, X1)
	VMOVHLPS(X0, X0, X2)
	VMINPS(X2, X0, X0)
	VMOVHLPS(X1, X1, X3)
	VMAXPS(X3, X1, X1)
	VPSHUFD(U8(1), X0, X2)
	VMINSS(X2, X0, X0)
	VPSHUFD(U8(1), X1, X3)
	VMAXSS(X3, X1, X1)
	VZEROUPPER()
	Store(X0, ReturnIndex(0))
	Store(X1, ReturnIndex(1))
	RET()
}

// peak generates peak<name>(n int): n iterations of one quad step of a full
// tile held in registers (no memory operands), for PeakGOPS.
func peak(k kernel) {
	TEXT("peak"+k.name, NOSPLIT, "func(n int)")
	Doc("peak" + k.name + " runs n register-only steps of the " + k.name + " tile; see PeakGOPS.")
	Load(Param("n"), cnt)
	if k.prepare != nil {
		k.prepare()
	}
	for r := 0; r < k.vecs; r++ {
		k.zero(k.w(r))
	}
	k.zero(k.bc)
	for i := 0; i < k.rows; i++ {
		for r := 0; r < k.vecs; r++ {
			k.zero(k.acc(i, r))
		}
	}
	Label("ploop")
	for i := 0; i < k.rows; i++ {
		for r := 0; r < k.vecs; r++ {
			k.dot(k.w(r), k.bc, k.acc(i, r), r)
		}
	}
	DECQ(cnt)
	JNZ(LabelRef("ploop"))
	VZEROUPPER()
	RET()
}

// prefetch touches the next tile's cache lines matching the quad disp bytes
// ahead: panels 4..7 for the 64-column tile (RAX tracks panel 6), panel 1
// for the 16-column ones.
func (k kernel) prefetch(disp int) {
	if k.lanes == 16 {
		PREFETCHT0(Mem{Base: b3, Index: pan, Scale: 1, Disp: disp})
		PREFETCHT0(Mem{Base: b3, Index: pan, Scale: 2, Disp: disp})
		PREFETCHT0(Mem{Base: RAX, Disp: disp})
		PREFETCHT0(Mem{Base: b3, Index: pan, Scale: 4, Disp: disp})
		return
	}
	PREFETCHT0(Mem{Base: b0, Index: pan, Scale: 1, Disp: disp})
}

// advance moves the activation and weight pointers q quads on.
func advance(q int, pf bool) {
	ADDQ(U8(4*q), a0)
	ADDQ(U8(4*q), a3)
	ADDQ(U8(64*q), b0)
	ADDQ(U8(64*q), b3)
	if pf {
		ADDQ(U8(64*q), RAX)
	}
}

// step accumulates the quad disp bytes ahead into the accumulators.
func (k kernel) step(mr, disp int, pf bool) {
	for r := 0; r < k.vecs; r++ {
		k.load(k.panelAddr(r, disp), k.w(r))
	}
	if pf {
		k.prefetch(disp)
	}
	for i := 0; i < mr; i++ {
		VPBROADCASTD(rowAddr(a0, a3, lda, i, disp/16), k.bc)
		for r := 0; r < k.vecs; r++ {
			k.dot(k.w(r), k.bc, k.acc(i, r), r)
		}
	}
}

// loops runs over the k/4 whole quads. With one row, two sets of
// accumulators take alternate quads, so twice as many independent chains
// hide the latency of VPDPBUSD (or of VPMADDUBSW, VPMADDWD, VPADDD).
func loops(k kernel, mr int, pf bool, l func(string) string) {
	sfx := "n"
	if pf {
		sfx = "p"
	}
	if mr == 1 {
		// Second set: the accumulators of row 1, weights in those of
		// row 2, broadcast in the first of row 3 (all idle with one row).
		accB := func(r int) VecPhysical { return k.acc(1, r) }
		w2 := func(r int) VecPhysical { return k.acc(2, r) }
		bc2 := k.acc(3, 0)
		for r := 0; r < k.vecs; r++ {
			k.zero(accB(r))
		}
		MOVQ(kk, cnt)
		SHRQ(U8(3), cnt)
		JZ(LabelRef(l("odd" + sfx)))
		Label(l("pair" + sfx))
		for r := 0; r < k.vecs; r++ {
			k.load(k.panelAddr(r, 0), k.w(r))
			k.load(k.panelAddr(r, 64), w2(r))
		}
		if pf {
			k.prefetch(0)
			k.prefetch(64)
		}
		VPBROADCASTD(Mem{Base: a0}, k.bc)
		VPBROADCASTD(Mem{Base: a0, Disp: 4}, bc2)
		for r := 0; r < k.vecs; r++ {
			k.dot(k.w(r), k.bc, k.acc(0, r), r)
			k.dot(w2(r), bc2, accB(r), r)
		}
		advance(2, pf)
		DECQ(cnt)
		JNZ(LabelRef(l("pair" + sfx)))
		Label(l("odd" + sfx))
		TESTQ(U32(4), kk)
		JZ(LabelRef(l("sum" + sfx)))
		k.step(1, 0, pf)
		advance(1, pf)
		Label(l("sum" + sfx))
		for r := 0; r < k.vecs; r++ {
			VPADDD(accB(r), k.acc(0, r), k.acc(0, r))
		}
		return
	}
	MOVQ(kk, cnt)
	SHRQ(U8(2), cnt)
	JZ(LabelRef(l("tail")))
	Label(l("loop" + sfx))
	k.step(mr, 0, pf)
	advance(1, pf)
	DECQ(cnt)
	JNZ(LabelRef(l("loop" + sfx)))
}
