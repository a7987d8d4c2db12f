package pth

import "math"

// halfToFloat32 converts IEEE 754 binary16 bits to float32, exactly:
// (-1)^s · 2^(e-15) · (1 + m/1024) for 0 < e < 31, (-1)^s · 2^-14 · m/1024
// for e = 0 (subnormals), ±Inf or NaN (payload kept) for e = 31.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch exp {
	case 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: normalise into float32's wider exponent range.
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
	case 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// bfloat16ToFloat32 converts bfloat16 bits to float32, exactly: bfloat16
// is the upper half of a float32.
func bfloat16ToFloat32(b uint16) float32 {
	return math.Float32frombits(uint32(b) << 16)
}
