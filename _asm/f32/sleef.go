//go:build generate

package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The PyTorch-exact kernels: Sleef 3.5.1's xexpf and xtanhf for its
// AVX2+FMA target (Sleef_expf8_u10avx2, Sleef_tanhf8_u10avx2), transcribed
// operation by operation from the Go references in
// internal/f32/torchmath_generic.go, which name the Sleef helpers they
// follow. Each vector operation rounds as the scalar one does (VFMADD… is
// one rounding, like fma32), so the kernels agree with the references bit
// for bit, NaN payloads included: where one operand is a NaN it is the
// first source (the avo operand before the destination), as in Sleef.
//
// Only 8-lane AVX2 kernels exist; the package runs them at every SIMD level.

var sleefConsts Mem

// Slots of sleefConsts, 32 bytes each (one YMM of equal lanes).
const (
	sRLn2    = iota // log₂e
	sNegL2U         // −L2U
	sNegL2L         // −L2L
	sE0             // xexpf polynomial, highest degree first
	sE1             //
	sE2             //
	sE3             //
	sE4             //
	sHalf           // 0.5, the last xexpf coefficient and expk2f's
	sK0             // expk2f polynomial
	sK1             //
	sK2             //
	sK3             //
	sK4             // 0.166666659414234244790680580464
	sOne            //
	sM104           // −104
	s100            // 100
	sInf            // +Inf
	sTanhMax        // 8.664339742
	sAbs            // 0x7fffffff
	sSign           // 0x80000000
	sBias           // int32 127
	nSleefConsts
)

func sleefConstData() {
	sleefConsts = GLOBL("sleefconsts", RODATA|NOPTR)
	f := map[int]float32{
		sRLn2:    1.442695040888963407359924681001892137426645954152985934135449406931,
		sNegL2U:  -0.693145751953125,
		sNegL2L:  -1.428606765330187045e-06,
		sE0:      0.000198527617612853646278381,
		sE1:      0.00139304355252534151077271,
		sE2:      0.00833336077630519866943359,
		sE3:      0.0416664853692054748535156,
		sE4:      0.166666671633720397949219,
		sHalf:    0.5,
		sK0:      +0.1980960224e-3,
		sK1:      +0.1394256484e-2,
		sK2:      +0.8333456703e-2,
		sK3:      +0.4166637361e-1,
		sK4:      +0.166666659414234244790680580464e+0,
		sOne:     1,
		sM104:    -104,
		s100:     100,
		sInf:     float32(math.Inf(1)),
		sTanhMax: 8.664339742,
	}
	u := map[int]uint32{sAbs: 0x7fff_ffff, sSign: 0x8000_0000, sBias: 127}
	for slot := 0; slot < nSleefConsts; slot++ {
		bits, ok := u[slot]
		if !ok {
			bits = math.Float32bits(f[slot])
		}
		for lane := 0; lane < 8; lane++ {
			DATA(slot*32+lane*4, U32(bits))
		}
	}
}

func sc(slot int) Mem { return sleefConsts.Offset(slot * 32) }

// load returns a fresh register holding m.
func load(m Op) VecVirtual {
	v := YMM()
	VMOVUPS(m, v)
	return v
}

// sleefExp returns xexpf(d) (see sleefExpf); d is kept.
func sleefExp(d VecVirtual) VecVirtual {
	u := YMM()
	VMULPS(sc(sRLn2), d, u)
	q := YMM()
	VCVTPS2DQ(u, q) // rint
	qf := YMM()
	VCVTDQ2PS(q, qf)
	s := YMM()
	VMOVAPS(d, s)
	VFMADD231PS(sc(sNegL2U), qf, s) // s = fma(qf, −L2U, d)
	VFMADD231PS(sc(sNegL2L), qf, s) // s = fma(qf, −L2L, s)
	VMOVUPS(sc(sE0), u)
	for _, c := range []int{sE1, sE2, sE3, sE4, sHalf} {
		VFMADD213PS(sc(c), s, u) // u = fma(u, s, c)
	}
	VMULPS(s, s, qf)       // s²
	VFMADD213PS(s, qf, u)  // u = fma(s², u, s)
	VADDPS(sc(sOne), u, u) // 1 + u
	ldexp2(q, u)
	m := YMM()
	VCMPPS(Imm(1), sc(sM104), d, m) // d < −104 (LT_OS)
	VANDNPS(u, m, u)                // → 0
	VCMPPS(Imm(14), sc(s100), d, m) // d > 100 (GT_OS)
	VBLENDVPS(m, sc(sInf), u, u)    // → +Inf
	return u
}

// ldexp2 multiplies each of xs by 2^(q>>1) and then by 2^(q−q>>1) (q is
// clobbered).
func ldexp2(q VecVirtual, xs ...VecVirtual) {
	h := YMM()
	VPSRAD(Imm(1), q, h)
	VPSUBD(h, q, q)
	VPADDD(sc(sBias), h, h)
	VPSLLD(Imm(23), h, h)
	VPADDD(sc(sBias), q, q)
	VPSLLD(Imm(23), q, q)
	for _, x := range xs {
		VMULPS(h, x, x)
		VMULPS(q, x, x)
	}
}

// sleefSigmoid returns 1/(xexpf(0−a)+1) (see sigmoidSleef); a is kept.
func sleefSigmoid(a VecVirtual) VecVirtual {
	n := YMM()
	VXORPS(n, n, n)
	VSUBPS(a, n, n) // 0 − a
	e := sleefExp(n)
	VADDPS(sc(sOne), e, e)
	r := load(sc(sOne))
	VDIVPS(e, r, r)
	return r
}

// vf2 is a double-float x+y in two registers.
type vf2 struct{ x, y VecVirtual }

// dfadd2f is dfadd2_vf2_vf2_vf: a + b (b's value is kept).
func dfadd2f(a vf2, b VecVirtual) vf2 {
	s, v, t, w := YMM(), YMM(), YMM(), YMM()
	VADDPS(b, a.x, s) // s = a.x + b
	VSUBPS(a.x, s, v) // v = s − a.x
	VSUBPS(v, s, t)   // s − v
	VSUBPS(t, a.x, t) // a.x − (s − v)
	VSUBPS(v, b, w)   // b − v
	VADDPS(w, t, t)   // t
	VADDPS(a.y, t, t) // t + a.y
	return vf2{s, t}
}

// dfadd2 is dfadd2_vf2_vf2_vf2: a + b.
func dfadd2(a, b vf2) vf2 {
	s, v, t, w := YMM(), YMM(), YMM(), YMM()
	VADDPS(b.x, a.x, s)
	VSUBPS(a.x, s, v)
	VSUBPS(v, s, t)
	VSUBPS(t, a.x, t) // a.x − (s − v)
	VSUBPS(v, b.x, w) // b.x − v
	VADDPS(w, t, t)
	VADDPS(b.y, a.y, w) // a.y + b.y
	VADDPS(w, t, t)
	return vf2{s, t}
}

// dfadd is dfadd_vf2_vf2_vf2: a + b; with sub, a − b (a.x + (−b.x) and
// a − b round alike, signed zeros included).
func dfadd(a, b vf2, sub bool) vf2 {
	add := func(x, y, z Op) {
		if sub {
			VSUBPS(x, y, z)
		} else {
			VADDPS(x, y, z)
		}
	}
	s, t := YMM(), YMM()
	add(b.x, a.x, s)  // s = a.x ± b.x
	VSUBPS(s, a.x, t) // a.x − s
	add(b.x, t, t)    // ± b.x
	VADDPS(a.y, t, t) // + a.y
	add(b.y, t, t)    // ± b.y
	return vf2{s, t}
}

// dfaddOne is dfadd_vf2_vf_vf2(1, b): (1 + b.x, ((1 − s) + b.x) + b.y).
func dfaddOne(b vf2) vf2 {
	s := YMM()
	VADDPS(sc(sOne), b.x, s)
	t := load(sc(sOne))
	VSUBPS(s, t, t)   // 1 − s
	VADDPS(b.x, t, t) // + b.x
	VADDPS(b.y, t, t) // + b.y
	return vf2{s, t}
}

// dfmulf is dfmul_vf2_vf2_vf: a·b.
func dfmulf(a vf2, b VecVirtual) vf2 {
	s, t := YMM(), YMM()
	VMULPS(b, a.x, s)
	VMOVAPS(s, t)
	VFMSUB231PS(b, a.x, t) // a.x·b − s
	VFMADD231PS(b, a.y, t) // fma(a.y, b, ·)
	return vf2{s, t}
}

// dfmul is dfmul_vf2_vf2_vf2: a·b.
func dfmul(a, b vf2) vf2 {
	s, t := YMM(), YMM()
	VMULPS(b.x, a.x, s)
	VMOVAPS(s, t)
	VFMSUB231PS(b.x, a.x, t) // a.x·b.x − s
	VFMADD231PS(b.x, a.y, t) // fma(a.y, b.x, ·)
	VFMADD231PS(b.y, a.x, t) // fma(a.x, b.y, ·)
	return vf2{s, t}
}

// dfsqu is dfsqu_vf2_vf2: a².
func dfsqu(a vf2) vf2 {
	s, t, d := YMM(), YMM(), YMM()
	VMULPS(a.x, a.x, s)
	VMOVAPS(s, t)
	VFMSUB231PS(a.x, a.x, t) // a.x·a.x − s
	VADDPS(a.x, a.x, d)
	VFMADD231PS(a.y, d, t) // fma(a.x+a.x, a.y, ·)
	return vf2{s, t}
}

// dfrec is dfrec_vf2_vf2: 1/d.
func dfrec(d vf2) vf2 {
	s := load(sc(sOne))
	VDIVPS(d.x, s, s)
	t := load(sc(sOne))
	VFNMADD231PS(s, d.x, t) // 1 − d.x·s
	VFNMADD231PS(s, d.y, t) // · − d.y·s
	VMULPS(t, s, t)         // s·t
	return vf2{s, t}
}

// dfdiv is dfdiv_vf2_vf2_vf2: n/d.
func dfdiv(n, d vf2) vf2 {
	t := load(sc(sOne))
	VDIVPS(d.x, t, t) // 1/d.x
	s := YMM()
	VMULPS(t, n.x, s) // n.x·t
	u := YMM()
	VMOVAPS(s, u)
	VFMSUB231PS(n.x, t, u) // t·n.x − s
	v := load(sc(sOne))
	VFNMADD231PS(t, d.x, v) // 1 − d.x·t
	VFNMADD231PS(t, d.y, v) // · − d.y·t
	VFMADD231PS(t, n.y, u)  // fma(n.y, t, u)
	VFMADD231PS(v, s, u)    // fma(s, v, ·)
	return vf2{s, u}
}

// sleefTanh returns xtanhf(x) (see sleefTanhf); x is kept.
func sleefTanh(x VecVirtual) VecVirtual {
	y := YMM()
	VANDPS(sc(sAbs), x, y) // |x|
	zero := YMM()
	VXORPS(zero, zero, zero)

	// expk2f((y, 0)); y + 0 = y as y ≥ +0.
	q := YMM()
	VMULPS(sc(sRLn2), y, q)
	VCVTPS2DQ(q, q)
	qf := YMM()
	VCVTDQ2PS(q, qf)
	a := YMM()
	VMULPS(sc(sNegL2U), qf, a)
	s := dfadd2f(vf2{y, zero}, a)
	VMULPS(sc(sNegL2L), qf, a)
	s = dfadd2f(s, a)
	u := load(sc(sK0))
	for _, c := range []int{sK1, sK2, sK3} {
		VFMADD213PS(sc(c), s.x, u) // u = fma(u, s.x, c)
	}
	t := dfadd2f(dfmulf(s, u), load(sc(sK4)))
	t = dfadd2f(dfmul(s, t), load(sc(sHalf)))
	t = dfadd2(s, dfmul(dfsqu(s), t))
	t = dfaddOne(t)
	ldexp2(q, t.x, t.y)

	e := dfrec(t)
	d := dfdiv(dfadd(t, e, true), dfadd(t, e, false))
	r := YMM()
	VADDPS(d.y, d.x, r)

	m := YMM()
	VANDPS(sc(sAbs), x, y)
	VCMPPS(Imm(14), sc(sTanhMax), y, m) // |x| > 8.664339742
	VCMPPS(Imm(3), r, r, y)             // isnan(r)
	VORPS(y, m, m)
	VBLENDVPS(m, sc(sOne), r, r) // → 1
	VANDPS(sc(sSign), x, y)
	VXORPS(y, r, r)         // mulsign(r, x)
	VCMPPS(Imm(3), x, x, y) // isnan(x)
	VORPS(y, r, r)          // → all ones
	return r
}

func sleefKernel(name, what string, f func(VecVirtual) VecVirtual) {
	TEXT(name, NOSPLIT, "func(dst, x *float32, n int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets dst[i] = %s for i < n, n a multiple of 8 (AVX2+FMA):", name, what),
		"", "\tfor i := range n {", fmt.Sprintf("\t\tdst[i] = %s", what), "\t}")
	dst := gp("dst")
	x := gp("x")
	n := avx2.counter("n", "done")
	Label("loop")
	v := load(Mem{Base: x})
	r := f(v)
	VMOVUPS(r, Mem{Base: dst})
	ADDQ(Imm(32), x)
	ADDQ(Imm(32), dst)
	DECQ(n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

func lstmTorchKernel() {
	TEXT("lstmCellTorch256", NOSPLIT, "func(gates *float32, h int, c, hOut *float32, n int)")
	Pragma("noescape")
	Doc("lstmCellTorch256 is the PyTorch-exact LSTM pointwise update for j < n, n a multiple of 8, all sigmoids on the vector path (AVX2+FMA):",
		"",
		"\tfor j := range n {",
		"\t\ti, f := sigmoidSleef(gates[j]), sigmoidSleef(gates[h+j])",
		"\t\tg, o := sleefTanhf(gates[2*h+j]), sigmoidSleef(gates[3*h+j])",
		"\t\tc[j] = float32(float32(f*c[j]) + float32(i*g))",
		"\t\thOut[j] = float32(o * sleefTanhf(c[j]))",
		"\t}")
	g := gp("gates")
	h := gp("h")
	SHLQ(Imm(2), h)
	h3 := GP64()
	LEAQ(Mem{Base: h, Index: h, Scale: 2}, h3)
	c := gp("c")
	ho := gp("hOut")
	n := avx2.counter("n", "done")
	Label("loop")
	fg := sleefSigmoid(load(Mem{Base: g, Index: h, Scale: 1}))
	VMULPS(Mem{Base: c}, fg, fg) // f·c
	ig := sleefSigmoid(load(Mem{Base: g}))
	gg := sleefTanh(load(Mem{Base: g, Index: h, Scale: 2}))
	VMULPS(gg, ig, ig) // i·g
	VADDPS(ig, fg, fg) // c' = f·c + i·g
	VMOVUPS(fg, Mem{Base: c})
	th := sleefTanh(fg)
	og := sleefSigmoid(load(Mem{Base: g, Index: h3, Scale: 1}))
	VMULPS(th, og, og)
	VMOVUPS(og, Mem{Base: ho})
	for _, p := range []GPVirtual{g, c, ho} {
		ADDQ(Imm(32), p)
	}
	DECQ(n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// torchKernels generates the PyTorch-exact kernels.
func torchKernels() {
	sleefConstData()
	sleefKernel("sleefExp256", "sleefExpf(x[i])", sleefExp)
	sleefKernel("sleefTanh256", "sleefTanhf(x[i])", sleefTanh)
	sleefKernel("sleefSigmoid256", "sigmoidSleef(x[i])", sleefSigmoid)
	lstmTorchKernel()
}
