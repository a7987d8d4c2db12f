package f16

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// halfValue is the test's own decoding of half bits: (−1)^s·2^(e−15)·1.m,
// or 2^−14·0.m for subnormals.
func halfValue(h uint16) float64 {
	s := 1.0
	if h&0x8000 != 0 {
		s = -1
	}
	e := int(h>>10) & 0x1f
	m := float64(h & 0x3ff)
	switch e {
	case 0:
		return s * math.Ldexp(m, -24)
	case 0x1f:
		if m == 0 {
			return math.Inf(int(s))
		}
		return math.NaN()
	}
	return s * math.Ldexp(1+m/1024, e-15)
}

func TestToFloat32(t *testing.T) {
	for b := range 1 << 16 {
		h := uint16(b)
		got, want := ToFloat32(h), halfValue(h)
		if math.IsNaN(want) {
			// VCVTPH2PS quiets NaNs and keeps their sign and payload.
			w := uint32(h&0x8000)<<16 | 0x7fc00000 | uint32(h&0x3ff)<<13
			if math.Float32bits(got) != w {
				t.Fatalf("ToFloat32(%#04x) = %#08x, want %#08x", h, math.Float32bits(got), w)
			}
			continue
		}
		if float64(got) != want || math.Signbit(float64(got)) != (h&0x8000 != 0) {
			t.Fatalf("ToFloat32(%#04x) = %g, want %g", h, got, want)
		}
	}
}

// nearestHalf rounds v to the nearest finite half, ties to even, by search
// over every finite half: the test's reference for FromFloat32 (overflow
// handled by the caller).
type halves struct {
	vals []float64 // the non-negative finite halves, ascending (bits 0..0x7bff)
}

func newHalves() *halves {
	hs := &halves{}
	for b := range 0x7c00 {
		hs.vals = append(hs.vals, halfValue(uint16(b)))
	}
	return hs
}

func (hs *halves) round(v float32) uint16 {
	a := math.Abs(float64(v))
	var sign uint16
	if math.Signbit(float64(v)) {
		sign = 0x8000
	}
	if a >= 65520 { // 65504 + half an ulp (16): ties to even go up, to Inf
		return sign | 0x7c00
	}
	// vals[i-1] < a ≤ vals[i]
	i, _ := slices.BinarySearch(hs.vals, a)
	if i == len(hs.vals) { // a in (65504, 65520)
		return sign | 0x7bff
	}
	if hs.vals[i] == a {
		return sign | uint16(i)
	}
	lo, hi := hs.vals[i-1], hs.vals[i]
	switch d1, d2 := a-lo, hi-a; {
	case d1 < d2:
		return sign | uint16(i-1)
	case d2 < d1:
		return sign | uint16(i)
	case (i-1)%2 == 0:
		return sign | uint16(i-1)
	default:
		return sign | uint16(i)
	}
}

func TestFromFloat32(t *testing.T) {
	hs := newHalves()
	check := func(v float32) {
		t.Helper()
		got, want := FromFloat32(v), hs.round(v)
		if got != want {
			t.Fatalf("FromFloat32(%g = %#08x) = %#04x, want %#04x", v, math.Float32bits(v), got, want)
		}
	}
	// Every half, and the float32s around every midpoint between two.
	for b := range 0x7c00 {
		v := float32(halfValue(uint16(b)))
		check(v)
		check(-v)
		if b+1 < 0x7c00 {
			mid := float32((halfValue(uint16(b)) + halfValue(uint16(b+1))) / 2)
			for _, x := range []float32{mid, math.Nextafter32(mid, 0), math.Nextafter32(mid, 1e9)} {
				check(x)
				check(-x)
			}
		}
	}
	for _, v := range []float32{65504, 65519.99, 65520, 1e5, math.MaxFloat32, 0x1p-25, 0x1.000002p-25, 0x1p-26, 1e-30, 0} {
		check(v)
		check(-v)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		v := math.Float32frombits(r.Uint32())
		if math.IsNaN(float64(v)) {
			continue
		}
		check(v)
	}
	if got := FromFloat32(float32(math.Inf(-1))); got != 0xfc00 {
		t.Errorf("FromFloat32(-Inf) = %#04x", got)
	}
	if got := FromFloat32(float32(math.NaN())); got&0x7e00 != 0x7e00 {
		t.Errorf("FromFloat32(NaN) = %#04x, want a quiet NaN", got)
	}
	if got := SaturateFP16(1e6); got != 0x7bff {
		t.Errorf("SaturateFP16(1e6) = %#04x, want 0x7bff (65504)", got)
	}
	if got := SaturateFP16(-70000); got != 0xfbff {
		t.Errorf("SaturateFP16(-70000) = %#04x, want 0xfbff", got)
	}
}

func TestBF16(t *testing.T) {
	for b := range 1 << 16 {
		if got := math.Float32bits(ToFloat32BF16(uint16(b))); got != uint32(b)<<16 {
			t.Fatalf("ToFloat32BF16(%#04x) = %#08x", b, got)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 500_000 {
		v := math.Float32frombits(r.Uint32())
		got := FromFloat32BF16(v)
		if math.IsNaN(float64(v)) {
			if !math.IsNaN(float64(ToFloat32BF16(got))) {
				t.Fatalf("FromFloat32BF16(NaN %#08x) = %#04x", math.Float32bits(v), got)
			}
			continue
		}
		// The reference: the nearer of the two truncations, ties to the even one.
		lo := uint16(math.Float32bits(v) >> 16)
		hi := lo + 1
		dlo := math.Abs(float64(v) - float64(ToFloat32BF16(lo)))
		vhi := float64(ToFloat32BF16(hi))
		if math.IsInf(vhi, 0) { // the next value in an unbounded exponent range
			vhi = math.Copysign(0x1p128, vhi)
		}
		dhi := math.Abs(float64(v) - vhi)
		want := lo
		if dhi < dlo || (dhi == dlo && lo&1 == 1) {
			want = hi
		}
		if got != want {
			t.Fatalf("FromFloat32BF16(%g = %#08x) = %#04x, want %#04x", v, math.Float32bits(v), got, want)
		}
	}
}
