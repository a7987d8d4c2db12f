package f32

import "math"

// LogSumExpPortable returns log Σ exp(x[i]) as LogSumExp does, max +
// log Σ exp(x[i] − max), but with the same bits on every kernel path and
// every architecture: the exp is the vectorized one (Cephes' expf, see the
// package doc) in its 8-lane AVX2 form, and the float64 sum has one fixed
// order, that of the AVX2 kernel (cephesSumExp). The AVX2 kernels run it on
// amd64 (at the avx512 level, sumExpPortable512: the same sum, sixteen
// exponentials at a time), NEON kernels with the same roundings on arm64,
// and the pure-Go reference, which reproduces them bit for bit with an
// emulated float32 FMA, everywhere else (and at the generic level). It is
// for results that must match across machines (eval's losses); on amd64 it
// costs about what LogSumExp costs. The bits are unspecified for inputs
// holding a NaN.
func LogSumExpPortable(x []float32) float32 {
	if len(x) == 0 {
		return float32(math.Inf(-1))
	}
	mx := maxGeneric8(x)
	return mx + float32(math.Log(sumExpPortable(x, mx)))
}

// maxGeneric8 returns max x[i] (len(x) > 0); for x without NaNs the result
// does not depend on the order, so the kernels' max serves where present.
func maxGeneric8(x []float32) float32 {
	if portableSIMD() {
		return maxPortable(x)
	}
	return maxGeneric(x)
}

// cephesExp is the reference of the vectorized exp, one rounding per kernel
// instruction (fma32 for each VFMADD/VFNMADD, explicit float32 conversions
// elsewhere so that Go fuses nothing):
//
//	t = max(min(x, 88), −87.33654475)           (a NaN becomes 88)
//	n = roundToEven(t·log₂e)
//	t = fma(−n, C1, t); t = fma(−n, C2, t)       (C1 + C2 = ln 2)
//	p = P0; p = fma(p, t, Pi) for i = 1..5
//	p = fma(p, t·t, t) + 1
//	exp = p · 2ⁿ
func cephesExp(x float32) float32 {
	const (
		hi    = float32(88.0)
		lo    = float32(-87.33654475)
		log2e = float32(1.44269504088896341)
		c1    = float32(0.693359375)
		c2    = float32(-2.12194440e-4)
		p0    = float32(1.9875691500e-4)
		p1    = float32(1.3981999507e-3)
		p2    = float32(8.3334519073e-3)
		p3    = float32(4.1665795894e-2)
		p4    = float32(1.6666665459e-1)
		p5    = float32(5.0000001201e-1)
	)
	t := hi
	if x < hi { // VMINPS(88, x): x if x < 88, else (also NaN) 88
		t = x
	}
	if !(t > lo) { // VMAXPS(lo, t)
		t = lo
	}
	n := float32(math.RoundToEven(float64(float32(t * log2e))))
	t = fma32(-n, c1, t)
	t = fma32(-n, c2, t)
	p := p0
	for _, c := range [...]float32{p1, p2, p3, p4, p5} {
		p = fma32(p, t, c)
	}
	z := float32(t * t)
	p = fma32(p, z, t)
	p = float32(p + 1)
	return float32(p * math.Float32frombits(uint32(int32(n)+127)<<23))
}

// cephesSumExp is the reference of the AVX2 sum: Σ cephesExp(x[i] − sub)
// over the first len(x)&^7 elements in eight float64 lanes (lane j sums
// the i ≡ j mod 8 in index order), the lanes added as
// ((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7)), then the remaining elements
// one by one.
func cephesSumExp(x []float32, sub float32) float64 {
	var l [8]float64
	body := len(x) &^ 7
	for i := 0; i < body; i += 8 {
		v := x[i : i+8 : i+8]
		for j := range l {
			l[j] += float64(cephesExp(float32(v[j] - sub)))
		}
	}
	s := float64(float64(l[0]+l[4])+float64(l[2]+l[6])) + float64(float64(l[1]+l[5])+float64(l[3]+l[7]))
	for _, v := range x[body:] {
		s += float64(cephesExp(float32(v - sub)))
	}
	return s
}
