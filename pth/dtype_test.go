package pth

import (
	"math"
	"testing"
)

// TestHalfToFloat32 checks every float16 bit pattern against the
// definition: (-1)^s · 2^(e-15) · (1 + m/1024), subnormals 2^-14 · m/1024,
// e = 31 infinities and NaNs (NaN payloads kept in the top mantissa bits).
func TestHalfToFloat32(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		s, e, m := h>>15, (h>>10)&0x1f, h&0x3ff
		var want float64
		switch e {
		case 0:
			want = math.Ldexp(float64(m)/1024, -14)
		case 31:
			want = math.Inf(1)
		default:
			want = math.Ldexp(1+float64(m)/1024, e-15)
		}
		if s == 1 {
			want = -want
		}
		got := halfToFloat32(uint16(h))
		if e == 31 && m != 0 {
			if b := math.Float32bits(got); !math.IsNaN(float64(got)) || b>>31 != uint32(s) || (b>>13)&0x3ff != uint32(m) {
				t.Fatalf("%#04x: %#08x, want NaN with sign %d payload %#x", h, b, s, m)
			}
			continue
		}
		if float64(got) != want || math.Signbit(float64(got)) != (s == 1) {
			t.Fatalf("%#04x: %v, want %v", h, got, want)
		}
	}
}

func TestBfloat16ToFloat32(t *testing.T) {
	for b := 0; b < 1<<16; b++ {
		if got := math.Float32bits(bfloat16ToFloat32(uint16(b))); got != uint32(b)<<16 {
			t.Fatalf("%#04x: %#08x", b, got)
		}
	}
}
