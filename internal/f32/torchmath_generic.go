package f32

import "math"

// The references below transcribe, operation by operation, the functions
// PyTorch 1.13 (Debian's build) runs for the LSTM cell: Sleef 3.5.1's
// xexpf and xtanhf for its FMA targets (Sleef_expf8_u10avx2,
// Sleef_tanhf8_u10avx2) and glibc 2.36's expf (the __expf_fma variant).
// Every float32 operation rounds once: each product and sum is wrapped in
// an explicit float32(…) conversion, which the Go spec says forbids fusing
// it with a neighbouring operation, and every fused multiply-add of the
// originals is fma32. The SIMD kernels (VFMADD231PS etc.) compute the same
// roundings and so agree bit for bit.

// fma32 returns x·y+z rounded once to float32 (round to nearest even), as
// VFMADD does.
//
// The product of two float32s is exact in float64 (24+24 bits), so only the
// sum rounds. Rounding p+z to float64 and then to float32 could round twice
// wrongly when the float64 sum lands exactly on a float32 midpoint; instead
// the float64 sum is rounded to odd (Boldo and Melquiond, "Emulation of FMA
// and correctly rounded sums: proved algorithms using rounding to odd",
// 2008): s = RN(p+z) and its error e = p+z−s (TwoSum, exact); if e ≠ 0 and
// s is even, s moves one float64 ulp towards e. A sum rounded to odd in
// 53 bits then rounds to float32 (24 bits, ≤ 51) exactly as p+z would.
// This is emulation.py's TwoSum-and-midpoint fix-up in another form; it
// also holds at the overflow threshold, where that fix-up cannot find a
// float32 neighbour above MaxFloat32. Products and sums of float32s neither
// overflow nor underflow in float64, so TwoSum is exact.
func fma32(x, y, z float32) float32 {
	p := float64(float64(x) * float64(y))
	c := float64(z)
	s := float64(p + c)
	bp := float64(s - c)
	e := float64(float64(p-bp) + float64(c-float64(s-bp)))
	if e > 0 || e < 0 { // not 0, not NaN (s infinite or a NaN operand)
		if b := math.Float64bits(s); b&1 == 0 {
			if (e > 0) == (s > 0) {
				b++
			} else {
				b--
			}
			s = math.Float64frombits(b)
		}
	}
	return float32(s)
}

// Sleef 3.5.1 constants (sleefsimdsp.c, misc.h).
const (
	rLn2f = float32(1.442695040888963407359924681001892137426645954152985934135449406931)
	l2Uf  = float32(0.693145751953125)
	l2Lf  = float32(1.428606765330187045e-06)
)

// rintf is Sleef's vrint_vi2_vf on AVX2, VCVTPS2DQ: round to nearest even.
// Out-of-range inputs (which the callers discard) give whatever Go's
// conversion gives.
func rintf(x float32) int32 { return int32(math.RoundToEven(float64(x))) }

// pow2if is vpow2i_vf_vi2: 2^q built in the exponent field, (q+127)<<23.
func pow2if(q int32) float32 { return math.Float32frombits(uint32((q + 0x7f) << 23)) }

// ldexp2f is vldexp2_vf_vf_vi2: d·2^(q>>1)·2^(q−q>>1), two roundings.
func ldexp2f(d float32, q int32) float32 {
	h := q >> 1
	return float32(float32(d*pow2if(h)) * pow2if(q-h))
}

// quietNaN returns the NaN x with its quiet bit set, as an SSE/AVX
// operation with one NaN operand returns it.
func quietNaN(x float32) float32 { return math.Float32frombits(math.Float32bits(x) | 0x0040_0000) }

// sleefExpf is Sleef 3.5.1's xexpf (Sleef_expf8_u10avx2, 1.0-ulp):
//
//	q = rint(d·log₂e), s = d − q·L2U − q·L2L (two FMAs)
//	u = 1 + s + s²·P(s)  (Horner with FMAs, then fma(s², u, s))
//	result = u·2^⌊q/2⌋·2^(q−⌊q/2⌋), 0 below −104, +Inf above 100
//
// Sleef computes the polynomial for every lane and then selects; the early
// returns give the same values. A NaN comes back quiet, as every operation
// of the vector code propagates it.
func sleefExpf(d float32) float32 {
	switch {
	case d != d:
		return quietNaN(d)
	case d < -104:
		return 0
	case d > 100:
		return float32(math.Inf(1))
	}
	q := rintf(float32(d * rLn2f))
	qf := float32(q)
	s := fma32(qf, -l2Uf, d)
	s = fma32(qf, -l2Lf, s)
	u := float32(0.000198527617612853646278381)
	u = fma32(u, s, 0.00139304355252534151077271)
	u = fma32(u, s, 0.00833336077630519866943359)
	u = fma32(u, s, 0.0416664853692054748535156)
	u = fma32(u, s, 0.166666671633720397949219)
	u = fma32(u, s, 0.5)
	u = float32(1 + fma32(float32(s*s), u, s))
	return ldexp2f(u, q)
}

// df is Sleef's vfloat2, an unevaluated sum x+y of two float32s.
type df struct{ x, y float32 }

// The double-float helpers of Sleef's dd.h/df.h, FMA variants.

// dfadd2ff is dfadd2_vf2_vf2_vf: x + y with the error of the sum (TwoSum).
func dfadd2ff(x df, y float32) df {
	s := float32(x.x + y)
	v := float32(s - x.x)
	t := float32(float32(x.x-float32(s-v)) + float32(y-v))
	return df{s, float32(t + x.y)}
}

// dfadd2 is dfadd2_vf2_vf2_vf2.
func dfadd2(x, y df) df {
	s := float32(x.x + y.x)
	v := float32(s - x.x)
	t := float32(float32(x.x-float32(s-v)) + float32(y.x-v))
	return df{s, float32(t + float32(x.y+y.y))}
}

// dfaddfd is dfadd_vf2_vf_vf2 (FastTwoSum, |x| ≥ |y.x|).
func dfaddfd(x float32, y df) df {
	s := float32(x + y.x)
	return df{s, float32(float32(float32(x-s)+y.x) + y.y)}
}

// dfadd is dfadd_vf2_vf2_vf2 (FastTwoSum, |x.x| ≥ |y.x|).
func dfadd(x, y df) df {
	s := float32(x.x + y.x)
	return df{s, float32(float32(float32(float32(x.x-s)+y.x)+x.y) + y.y)}
}

// dfmulf is dfmul_vf2_vf2_vf.
func dfmulf(x df, y float32) df {
	s := float32(x.x * y)
	return df{s, fma32(x.y, y, fma32(x.x, y, -s))}
}

// dfmul is dfmul_vf2_vf2_vf2.
func dfmul(x, y df) df {
	s := float32(x.x * y.x)
	return df{s, fma32(x.x, y.y, fma32(x.y, y.x, fma32(x.x, y.x, -s)))}
}

// dfsqu is dfsqu_vf2_vf2.
func dfsqu(x df) df {
	s := float32(x.x * x.x)
	return df{s, fma32(float32(x.x+x.x), x.y, fma32(x.x, x.x, -s))}
}

// dfrec is dfrec_vf2_vf2: 1/d.
func dfrec(d df) df {
	s := float32(1 / d.x)
	return df{s, float32(s * fma32(-d.y, s, fma32(-d.x, s, 1)))}
}

// dfdiv is dfdiv_vf2_vf2_vf2: n/d.
func dfdiv(n, d df) df {
	t := float32(1 / d.x)
	s := float32(n.x * t)
	u := fma32(t, n.x, -s)
	v := fma32(-d.y, t, fma32(-d.x, t, 1))
	return df{s, fma32(s, v, fma32(n.y, t, u))}
}

// expk2f is Sleef's expk2f: e^d in double-float.
func expk2f(d df) df {
	q := rintf(float32(float32(d.x+d.y) * rLn2f))
	qf := float32(q)
	s := dfadd2ff(d, float32(qf*-l2Uf))
	s = dfadd2ff(s, float32(qf*-l2Lf))
	u := float32(+0.1980960224e-3)
	u = fma32(u, s.x, +0.1394256484e-2)
	u = fma32(u, s.x, +0.8333456703e-2)
	u = fma32(u, s.x, +0.4166637361e-1)
	t := dfadd2ff(dfmulf(s, u), +0.166666659414234244790680580464e+0)
	t = dfadd2ff(dfmul(s, t), 0.5)
	t = dfadd2(s, dfmul(dfsqu(s), t))
	t = dfaddfd(1, t)
	if d.x < -104 {
		return df{}
	}
	return df{ldexp2f(t.x, q), ldexp2f(t.y, q)}
}

// sleefTanhf is Sleef 3.5.1's xtanhf (Sleef_tanhf8_u10avx2, 1.0-ulp):
//
//	d = e^|x| (double-float), e = 1/d
//	y = (d − e)/(d + e)   (double-float, then x+y rounded)
//	y = 1 if |x| > 8.664339742; y takes the sign of x
//
// A NaN input gives the all-ones pattern 0xFFFFFFFF (a negative quiet NaN):
// Sleef ORs the isnan(x) mask into the result.
func sleefTanhf(x float32) float32 {
	if x != x {
		return math.Float32frombits(0xffff_ffff)
	}
	ax := math.Float32frombits(math.Float32bits(x) &^ (1 << 31))
	var y float32 = 1
	if ax <= 8.664339742 {
		d := expk2f(df{ax, 0})
		e := dfrec(d)
		d = dfdiv(dfadd(d, df{-e.x, -e.y}), dfadd(d, e))
		y = float32(d.x + d.y)
		if y != y {
			y = 1
		}
	}
	// vmulsign: y ^ (x & −0).
	return math.Float32frombits(math.Float32bits(y) ^ math.Float32bits(x)&(1<<31))
}

// glibc 2.36 expf (sysdeps/ieee754/flt-32/e_expf.c, exp2f_data.c with
// EXP2F_TABLE_BITS = 5 and EXP2F_POLY_ORDER = 3), as compiled for the
// __expf_fma ifunc variant: z·InvLn2N + Shift, z·InvLn2N − kd and the
// polynomial's multiply-adds are contracted into float64 FMAs.
var glibcExp2fTab = [32]uint64{
	0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51,
	0x3fef72b83c7d517b, 0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1,
	0x3fef06fe0a31b715, 0x3feef1a7373aa9cb, 0x3feedea64c123422, 0x3feece086061892d,
	0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429, 0x3feea47eb03a5585,
	0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
	0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d,
	0x3feee89f995ad3ad, 0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069,
	0x3fef5818dcfba487, 0x3fef7c97337b9b5f, 0x3fefa4afa2a490da, 0x3fefd0765b6e4540,
}

const (
	glibcShift   = 0x1.8p+52
	glibcInvLn2N = 0x1.71547652b82fep+0 * 32
	glibcC0      = 0x1.c6af84b912394p-5 / (32 * 32 * 32)
	glibcC1      = 0x1.ebfce50fac4f3p-3 / (32 * 32)
	glibcC2      = 0x1.62e42ff0c52d6p-1 / 32
)

// glibcExpf is glibc 2.36's expf (__expf_fma), the std::exp(float) of
// PyTorch's scalar loops: with x·32/ln 2 = k + r, |r| ≤ ½,
//
//	e^x = 2^(k/32) · (1 + C2·r + C1·r² + C0·r³)
//
// in float64, 2^(k/32) from a 32-entry table, rounded once to float32.
func glibcExpf(x float32) float32 {
	top := math.Float32bits(x) >> 20
	if abstop := top & 0x7ff; abstop >= math.Float32bits(88)>>20 {
		switch {
		case x == float32(math.Inf(-1)):
			return 0
		case abstop >= math.Float32bits(float32(math.Inf(1)))>>20:
			return x + x // NaN (quieted) or +Inf
		case x > 0x1.62e42ep6: // log(0x1p128)
			return float32(math.Inf(1))
		case x < -0x1.9fe368p6: // log(0x1p-150)
			return 0
		}
	}
	xd := float64(x)
	kd := math.FMA(glibcInvLn2N, xd, glibcShift)
	ki := math.Float64bits(kd)
	kd = float64(kd - glibcShift)
	r := math.FMA(glibcInvLn2N, xd, -kd)
	s := math.Float64frombits(glibcExp2fTab[ki%32] + ki<<47)
	z := math.FMA(glibcC0, r, glibcC1)
	r2 := float64(r * r)
	y := math.FMA(glibcC2, r, 1)
	y = math.FMA(z, r2, y)
	return float32(float64(y * s))
}

// sigmoidSleef is the vectorized σ of ATen's sigmoid kernel (AVX2):
// a = 0 − a; a = a.exp(); a = a + 1; a = a.reciprocal() (exact division).
func sigmoidSleef(a float32) float32 {
	return float32(1 / float32(sleefExpf(float32(0-a))+1))
}

// sigmoidGlibc is the scalar σ of ATen's sigmoid kernel, run on the tail of
// each contiguous row: 1 / (1 + std::exp(−a)).
func sigmoidGlibc(a float32) float32 {
	return float32(1 / float32(1+glibcExpf(-a)))
}

// sigmoidTorchGeneric sets dst[i] = σ(x[i]) as torch.sigmoid does on one
// contiguous row: Sleef on the first ⌊n/block⌋·block elements, glibc on the rest.
func sigmoidTorchGeneric(dst, x []float32, block int) {
	nv := len(x) - len(x)%block
	for i, v := range x {
		if i < nv {
			dst[i] = sigmoidSleef(v)
		} else {
			dst[i] = sigmoidGlibc(v)
		}
	}
}

// lstmCellTorchRowGeneric is one row of LSTMCellTorch, the reference every
// variant follows (c is updated in place).
func lstmCellTorchRowGeneric(g, c, hOut []float32, h, block int) {
	nv := h - h%block
	for j := range h {
		sig := sigmoidSleef
		if j >= nv {
			sig = sigmoidGlibc
		}
		ig := sig(g[j])
		fg := sig(g[h+j])
		gg := sleefTanhf(g[2*h+j])
		og := sig(g[3*h+j])
		cj := float32(float32(fg*c[j]) + float32(ig*gg))
		c[j] = cj
		hOut[j] = float32(og * sleefTanhf(cj))
	}
}
