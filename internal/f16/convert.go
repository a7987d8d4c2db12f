package f16

import "math"

// Format is a 16-bit float format.
type Format uint8

const (
	// FP16 is IEEE 754 binary16: 1 sign, 5 exponent, 10 fraction bits.
	FP16 Format = iota
	// BF16 is bfloat16: the top 16 bits of a float32 (8 exponent, 7 fraction bits).
	BF16
)

func (f Format) String() string {
	if f == BF16 {
		return "bf16"
	}
	return "fp16"
}

// ToFloat32 converts f's bits h to float32, exactly.
func (f Format) ToFloat32(h uint16) float32 {
	if f == BF16 {
		return ToFloat32BF16(h)
	}
	return ToFloat32(h)
}

// FromFloat32 rounds v to f, to nearest even.
func (f Format) FromFloat32(v float32) uint16 {
	if f == BF16 {
		return FromFloat32BF16(v)
	}
	return FromFloat32(v)
}

// ToFloat32 converts IEEE half-precision bits to float32 exactly, as
// VCVTPH2PS does (a signaling NaN comes back quiet, its payload kept).
func ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch exp {
	case 0:
		// Zero or subnormal: man·2⁻²⁴, exact in float32.
		v := float32(man) * 0x1p-24
		return math.Float32frombits(sign | math.Float32bits(v))
	case 0x1f:
		if man == 0 {
			return math.Float32frombits(sign | 0x7f800000)
		}
		return math.Float32frombits(sign | 0x7fc00000 | man<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
}

// FromFloat32 rounds v to the nearest IEEE half (ties to even), as
// VCVTPS2PH with rounding mode 0 does: values of magnitude 65520 and above
// become ±Inf, those below 2⁻²⁵ ±0, subnormals are kept; a NaN stays a
// quiet NaN with the top of its payload.
func FromFloat32(v float32) uint16 {
	b := math.Float32bits(v)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	man := b & 0x7fffff
	if exp == 0xff {
		if man == 0 {
			return sign | 0x7c00
		}
		return sign | 0x7e00 | uint16(man>>13)
	}
	e := exp - 127 + 15 // the half's biased exponent
	switch {
	case e >= 0x1f:
		return sign | 0x7c00
	case e <= 0:
		if e < -10 {
			return sign // below 2⁻²⁵: rounds to zero
		}
		m := man | 0x800000
		shift := uint(14 - e) // 14..24
		hm := m >> shift
		rem := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && hm&1 == 1) {
			hm++ // may carry into the smallest normal, 0x0400: correct
		}
		return sign | uint16(hm)
	}
	h := uint32(e)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // a carry into the exponent is right; up to 0x7c00, Inf
	}
	return sign | uint16(h)
}

// ToFloat32BF16 converts bfloat16 bits to float32: b shifted 16 bits left.
func ToFloat32BF16(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// FromFloat32BF16 rounds v to the nearest bfloat16 (ties to even), as
// PyTorch's conversion does; a NaN stays a quiet NaN.
func FromFloat32BF16(v float32) uint16 {
	b := math.Float32bits(v)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// MaxFP16 is the largest finite half, 65504.
const MaxFP16 = 65504

// SaturateFP16 rounds v to FP16 after clamping it to ±MaxFP16, as
// PyTorch's fp16 weight prepacking (HandleWeightsSaturation) does: no
// weight becomes infinite.
func SaturateFP16(v float32) uint16 {
	return FromFloat32(min(max(v, -MaxFP16), MaxFP16))
}
