package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The block-scaled kernels (mulBlocks*) compute one tile of MulU8Dequant
// for a matrix with one scale per row and block of inputs (q8.PackBlocks).
// The inputs run in blocks of `block` (a multiple of 4, the last one
// shorter); at the end of each block the int32 sums acc become
//
//	s = fma(float32(acc + nzr), scales, s)    (s = 0 before the first block)
//
// with nzr = −za·rowSums of the block, prepared once per tile by
// prepBlocks, and at the end of the inputs d = fma(s, sa, bias). The
// running sums s stay in registers beside the int32 accumulators, so a
// kernel takes fewer rows at a time than its integer twin (3 instead of 6
// for VNNI, 2 instead of 6 or 4 for the 256-bit ones), and it loops over
// the groups of rows itself: one call per tile.
//
// Of the per-block work only the fused multiply-add runs on the ports of
// VPDPBUSD (on Zen 5; so do VPMULLD and VMULPS, which is why nzr is
// prepared per tile and the activation scale applied once at the end); the
// integer addition, the conversion, the loads and the zeroing idioms that
// restart the accumulators do not. On block32 the multiply-adds are an
// eighth of the VPDPBUSD work.

// blockKernel is an integer kernel laid out for the block-scaled product:
// rows × vecs accumulators acc and as many float32 sums sum. With fewer
// rows than the kernel's, sets(mr) > 1 sets of accumulators for mr rows
// (set s in the accumulators of rows s·mr…) take turns on the quads of
// each chunk of 8, so that more independent chains hide the latency of
// VPDPBUSD. split, if not nil, runs after each broadcast (the exact AVX2
// kernel halves the activations).
type blockKernel struct {
	kernel
	sum   func(i, r int) VecPhysical
	sets  func(mr int) int // sets of accumulators for mr rows (nil: 1)
	split func()
}

func blockKernels() []blockKernel {
	avx2 := kernel{
		name: "AVX2", rows: 2, vecs: 2, lanes: 8,
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
	// AVX2Split is exact for every activation: each broadcast a is cut into
	// lo = min(a, 128) (Y14) and hi = a − lo ≤ 127 (Y10), two exact
	// VPMADDUBSW products (as q8's splitSums does with two whole products).
	avx2Split := avx2
	avx2Split.name = "AVX2Split"
	avx2Split.dot = func(w, bc, acc VecPhysical, _ int) {
		VPMADDUBSW(w, Y14, Y12)
		VPMADDWD(Y11, Y12, Y12)
		VPADDD(Y12, acc, acc)
		VPMADDUBSW(w, bc, Y13)
		VPMADDWD(Y11, Y13, Y13)
		VPADDD(Y13, acc, acc)
	}
	avx2Split.prepare = func() {
		avx2.prepare()
		Comment("Y15 = bytes of 128")
		MOVL(U32(0x80808080), EAX)
		VMOVD(EAX, X15)
		VPBROADCASTD(X15, Y15)
	}
	sumAVX2 := func(i, r int) VecPhysical { return ymm(4 + i*2 + r) }
	return []blockKernel{
		{
			kernel: kernel{
				name: "VNNI", rows: 3, vecs: 4, lanes: 16,
				acc:  func(i, r int) VecPhysical { return zmm(i*4 + r) },
				w:    func(r int) VecPhysical { return zmm(24 + r) },
				bc:   Z28,
				zero: func(v VecPhysical) { VPXORD(v, v, v) },
				dot:  func(w, bc, acc VecPhysical, _ int) { VPDPBUSD(w, bc, acc) },
			},
			sum: func(i, r int) VecPhysical { return zmm(12 + i*4 + r) },
			// 12 chains for 3 rows, 8 for 2; one row runs two sets.
			sets: func(mr int) int { return max(1, 2/mr) },
		},
		// The chains are VPADDD's (one cycle): one set is enough.
		{kernel: avx2, sum: sumAVX2},
		{kernel: avx2Split, sum: sumAVX2, split: func() {
			VPMINUB(Y15, Y10, Y14)
			VPSUBB(Y14, Y10, Y10)
		}},
		{
			// 2 rows × 2 vectors × 2 sets: 8 chains, in 16 registers.
			kernel: kernel{
				name: "AVXVNNI", rows: 2, vecs: 2, lanes: 8,
				acc:  func(i, r int) VecPhysical { return ymm(i*2 + r) },
				w:    func(r int) VecPhysical { return ymm(12 + r) },
				bc:   Y14,
				zero: func(v VecPhysical) { VPXOR(v, v, v) },
				dot:  func(w, bc, acc VecPhysical, _ int) { vexVPDPBUSD(w, bc, acc) },
			},
			sum:  func(i, r int) VecPhysical { return ymm(8 + i*2 + r) },
			sets: func(int) int { return 2 }, // the second in Y4…Y7
		},
	}
}

// prepBlocks generates prepBlocks<cols>, which fills the consts of one
// tile of cols columns (a multiple of 16 with AVX-512, of 8 with AVX2):
// −za·rowSums of each block. The 64-column one also prefetches the next
// tile's row sums and scales (nb·256 bytes on).
func prepBlocks(cols int, avx512 bool) {
	name := fmt.Sprintf("prepBlocks%d", cols)
	TEXT(name, NOSPLIT, "func(c *int32, rowSums *int32, scales *float32, nb int, za int32)")
	Doc(name + " fills the block kernels' consts for one tile; see q8_amd64.go.")
	c, rs, sc, nb, next := RDI, RSI, RDX, RCX, R8
	Load(Param("c"), c)
	Load(Param("rowSums"), rs)
	Load(Param("scales"), sc)
	Load(Param("nb"), nb)
	MOVQ(nb, next)
	SHLQ(U8(8), next)
	ADDQ(next, sc)
	Load(Param("za"), EAX)
	NEGL(EAX)
	lanes, mov := 8, func(a, b Op) { VMOVDQU(a, b) }
	negza := Y0
	if avx512 {
		lanes, mov = 16, func(a, b Op) { VMOVDQU64(a, b) }
		negza = Z0
		VPBROADCASTD(EAX, negza)
	} else {
		VMOVD(EAX, X0)
		VPBROADCASTD(X0, negza)
	}
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	Label("loop")
	for v := 0; v < cols/lanes; v++ {
		t := ymm(1 + v)
		if avx512 {
			t = zmm(1 + v)
		}
		off := 4 * lanes * v
		VPMULLD(Mem{Base: rs, Disp: off}, negza, t)
		mov(t, Mem{Base: c, Disp: off})
	}
	if cols == 64 {
		for v := 0; v < 4; v++ {
			PREFETCHT0(Mem{Base: rs, Index: next, Scale: 1, Disp: 64 * v})
			PREFETCHT0(Mem{Base: sc, Disp: 64 * v})
		}
	}
	ADDQ(U32(256), rs) // 64 values a block (q8.Packed.meta)
	ADDQ(U32(256), sc)
	ADDQ(U32(4*cols), c)
	DECQ(nb)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// The flags of a block kernel call, for inputs run in several calls
// (q8.blocksResume, q8.blocksPartial): the running sums start from d, not
// 0; the call stores them in d as they are, not as fma(s, sa, bias).
const (
	blocksResume  = 1
	blocksPartial = 2
)

// consts (R15) and scs (RDX) point at the current block's consts and
// scales; kk (R13) holds the inputs left after the current block, cnt
// (R12) its whole quads. Only rows 0..2 are read (a0 = RSI).
var consts, scs = R15, RDX

// groupLocals are a block kernel's stack slots: the current group's first
// activation row and output row, the rows left, and how many more groups
// prefetch the next tile's weights.
type groupLocals struct{ aRow, dRow, left, pf Mem }

func gemmBlocks(k blockKernel) {
	cols := k.vecs * k.lanes
	name := "mulBlocks" + k.name
	TEXT(name, NOSPLIT, "func(d *float32, ldd int, a *uint8, lda int, m int, b *int8, k int, panel int, pf int, consts *int32, scales *float32, bias *float32, sa float32, block int, flags int)")
	Doc(fmt.Sprintf("%s computes m rows of one %d-column tile of the block-scaled MulU8Dequant; see q8_amd64.go.", name, cols))
	g := groupLocals{AllocLocal(8), AllocLocal(8), AllocLocal(8), AllocLocal(8)}
	Load(Param("lda"), lda)
	Load(Param("panel"), pan)
	if k.prepare != nil {
		k.prepare()
	}
	Load(Param("a"), tmp)
	MOVQ(tmp, g.aRow)
	Load(Param("d"), tmp)
	MOVQ(tmp, g.dRow)
	Load(Param("m"), tmp)
	MOVQ(tmp, g.left)
	Comment("pf != 0: the first two groups prefetch the next tile's weights")
	Load(Param("pf"), tmp)
	TESTQ(tmp, tmp)
	JZ(LabelRef("setpf"))
	MOVQ(U32(2), tmp)
	Label("setpf")
	MOVQ(tmp, g.pf)

	Label("group")
	MOVQ(g.aRow, a0)
	Load(Param("b"), b0)
	LEAQ(Mem{Base: pan, Index: pan, Scale: 2}, b3)
	ADDQ(b0, b3)
	XORQ(RAX, RAX)
	CMPQ(g.pf, U8(0))
	JE(LabelRef("nopfgroup"))
	DECQ(g.pf)
	if k.lanes == 16 {
		Comment("RAX = panel 2 of the next tile, as in mulVNNI")
		LEAQ(Mem{Base: b3, Index: pan, Scale: 2}, RAX)
		ADDQ(pan, RAX)
	} else {
		MOVQ(U32(1), RAX)
	}
	Label("nopfgroup")
	MOVQ(g.left, mm)
	CMPQ(mm, U8(k.rows))
	JAE(LabelRef(fmt.Sprintf("rows%d", k.rows)))
	for mr := 2; mr < k.rows; mr++ {
		CMPQ(mm, U8(mr))
		JE(LabelRef(fmt.Sprintf("rows%d", mr)))
	}
	if k.rows > 1 {
		JMP(LabelRef("rows1"))
	}
	for mr := k.rows; mr >= 1; mr-- {
		Label(fmt.Sprintf("rows%d", mr))
		blocksBody(k, mr, g)
	}
}

func blocksBody(k blockKernel, mr int, g groupLocals) {
	l := func(s string) string { return fmt.Sprintf("%s%d", s, mr) }
	cols := k.vecs * k.lanes
	d0, ldd := RBX, RCX
	Comment("s = 0, or the sums d holds (flags&blocksResume)")
	Load(Param("flags"), tmp)
	TESTQ(U32(blocksResume), tmp)
	JNZ(LabelRef(l("resume")))
	for i := 0; i < mr; i++ {
		for r := 0; r < k.vecs; r++ {
			k.zero(k.sum(i, r))
		}
	}
	JMP(LabelRef(l("start")))
	Label(l("resume"))
	MOVQ(g.dRow, d0)
	Load(Param("ldd"), ldd)
	SHLQ(U8(2), ldd)
	for i := 0; i < mr; i++ {
		for r := 0; r < k.vecs; r++ {
			VMOVUPS(rowAddr(d0, nil, ldd, i, 4*k.lanes*r), k.sum(i, r))
		}
	}
	Label(l("start"))
	Load(Param("consts"), consts)
	Load(Param("scales"), scs)
	Load(Param("k"), kk)

	Label(l("block"))
	for i := 0; i < mr; i++ {
		for r := 0; r < k.vecs; r++ {
			k.zero(k.acc(i, r))
		}
	}
	Comment("cnt = whole quads of this block, kk = inputs after it")
	Load(Param("block"), cnt)
	CMPQ(kk, cnt)
	CMOVQLT(kk, cnt)
	SUBQ(cnt, kk)
	SHRQ(U8(2), cnt)
	TESTQ(RAX, RAX)
	JZ(LabelRef(l("nopf")))
	blockLoops(k, mr, true, l)
	JMP(LabelRef(l("tail")))
	Label(l("nopf"))
	blockLoops(k, mr, false, l)

	Label(l("tail"))
	Comment("k%4 tail (last block only): the dword ending at each row's end, shifted right")
	TESTQ(kk, kk)
	JNZ(LabelRef(l("epi")))
	Load(Param("k"), RCX)
	ANDQ(U8(3), RCX)
	JZ(LabelRef(l("epi")))
	NEGQ(RCX)
	ADDQ(U8(4), RCX) // 4 - k%4 bytes to drop
	SUBQ(RCX, a0)
	SHLQ(U8(3), RCX)
	for r := 0; r < k.vecs; r++ {
		k.load(k.panelAddr(r, 0), k.w(r))
	}
	for i := 0; i < mr; i++ {
		MOVL(rowAddr(a0, nil, lda, i, 0), tmp.As32())
		SHRL(CL, tmp.As32())
		if k.lanes == 16 {
			VPBROADCASTD(tmp.As32(), k.bc)
		} else {
			x := X(k.bc)
			VMOVD(tmp.As32(), x)
			VPBROADCASTD(x, k.bc)
		}
		if k.split != nil {
			k.split()
		}
		for r := 0; r < k.vecs; r++ {
			k.dot(k.w(r), k.bc, k.acc(i, r), r)
		}
	}

	Label(l("epi"))
	Comment("s = fma(float32(acc + nzr), scales, s)")
	for r := 0; r < k.vecs; r++ {
		k.load(Mem{Base: scs, Disp: 4 * k.lanes * r}, k.w(r))
	}
	for i := 0; i < mr; i++ {
		for r := 0; r < k.vecs; r++ {
			a := k.acc(i, r)
			VPADDD(Mem{Base: consts, Disp: 4 * k.lanes * r}, a, a)
			VCVTDQ2PS(a, a)
			VFMADD231PS(k.w(r), a, k.sum(i, r))
		}
	}
	ADDQ(U32(4*cols), consts)
	ADDQ(U32(256), scs) // 64 values a block (q8.Packed.meta)
	TESTQ(kk, kk)
	JNZ(LabelRef(l("block")))

	MOVQ(g.dRow, d0)
	Load(Param("ldd"), ldd)
	SHLQ(U8(2), ldd)
	Comment("d = fma(s, sa, bias), or s itself (flags&blocksPartial)")
	Load(Param("flags"), tmp)
	TESTQ(U32(blocksPartial), tmp)
	JNZ(LabelRef(l("store")))
	x0 := X(k.acc(0, 0))
	Load(Param("sa"), x0)
	VBROADCASTSS(x0, k.bc)
	Load(Param("bias"), tmp)
	for i := 0; i < mr; i++ {
		for r := 0; r < k.vecs; r++ {
			VFMADD213PS(Mem{Base: tmp, Disp: 4 * k.lanes * r}, k.bc, k.sum(i, r))
		}
	}
	Label(l("store"))
	for i := 0; i < mr; i++ {
		for r := 0; r < k.vecs; r++ {
			VMOVUPS(k.sum(i, r), rowAddr(d0, nil, ldd, i, 4*k.lanes*r))
		}
	}
	Comment("next group of rows")
	next := func(stride Register, mem Mem) {
		switch mr {
		case 1:
			ADDQ(stride, mem)
		case 2:
			LEAQ(Mem{Base: stride, Index: stride, Scale: 1}, tmp)
			ADDQ(tmp, mem)
		case 3:
			LEAQ(Mem{Base: stride, Index: stride, Scale: 2}, tmp)
			ADDQ(tmp, mem)
		}
	}
	next(lda, g.aRow)
	next(ldd, g.dRow)
	SUBQ(U8(mr), g.left)
	JNZ(LabelRef("group"))
	VZEROUPPER()
	RET()
}

// blockLoops runs over the cnt whole quads of one block (cnt may be 0):
// in chunks of 8 quads (32 inputs) unrolled, then the rest one quad at a
// time. A block of 32 inputs is one chunk and no taken loop branch, whose
// exit a per-block loop would mispredict once per block. With several
// sets of accumulators, the quads of a chunk take turns, and the sets are
// added into the first at the end.
func blockLoops(k blockKernel, mr int, pf bool, l func(string) string) {
	sfx := "n"
	if pf {
		sfx = "p"
	}
	sets := 1
	if k.sets != nil {
		sets = k.sets(mr)
	}
	set := func(s int) func(i, r int) VecPhysical {
		return func(i, r int) VecPhysical { return k.acc(s*mr+i, r) }
	}
	MOVQ(cnt, tmp)
	SHRQ(U8(3), cnt)
	JZ(LabelRef(l("rest" + sfx)))
	for s := 1; s < sets; s++ {
		for i := 0; i < mr; i++ {
			for r := 0; r < k.vecs; r++ {
				k.zero(set(s)(i, r))
			}
		}
	}
	Label(l("chunk" + sfx))
	for q := 0; q < 8; q++ {
		k.stepInto(mr, 64*q, pf, set(q%sets))
	}
	advanceQ(8, pf)
	DECQ(cnt)
	JNZ(LabelRef(l("chunk" + sfx)))
	for s := 1; s < sets; s++ {
		for i := 0; i < mr; i++ {
			for r := 0; r < k.vecs; r++ {
				VPADDD(set(s)(i, r), k.acc(i, r), k.acc(i, r))
			}
		}
	}
	Label(l("rest" + sfx))
	ANDQ(U8(7), tmp)
	JZ(LabelRef(l("done" + sfx)))
	Label(l("quad" + sfx))
	k.stepInto(mr, 0, pf, k.acc)
	advanceQ(1, pf)
	DECQ(tmp)
	JNZ(LabelRef(l("quad" + sfx)))
	Label(l("done" + sfx))
}

// stepInto accumulates the quad disp bytes ahead of rows 0..mr-1 into acc.
func (k blockKernel) stepInto(mr, disp int, pf bool, acc func(i, r int) VecPhysical) {
	for r := 0; r < k.vecs; r++ {
		k.load(k.panelAddr(r, disp), k.w(r))
	}
	if pf {
		k.prefetch(disp)
	}
	for i := 0; i < mr; i++ {
		VPBROADCASTD(rowAddr(a0, nil, lda, i, disp/16), k.bc)
		if k.split != nil {
			k.split()
		}
		for r := 0; r < k.vecs; r++ {
			k.dot(k.w(r), k.bc, acc(i, r), r)
		}
	}
}

// advanceQ moves the activation (rows 0..2) and weight pointers q quads
// on.
func advanceQ(q int, pf bool) {
	ADDQ(U32(4*q), a0)
	ADDQ(U32(64*q), b0)
	ADDQ(U32(64*q), b3)
	if pf {
		ADDQ(U32(64*q), RAX)
	}
}
