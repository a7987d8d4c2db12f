package cpu

import "testing"

func TestParseLevel(t *testing.T) {
	for _, c := range []struct {
		s    string
		want Level
	}{{"generic", Generic}, {"AVX2", AVX2}, {"avxvnni", AVXVNNI}, {"avx512", AVX512}, {"vnni", VNNI},
		{"neon", NEON}, {"DotProd", DotProd}, {"i8mm", I8MM}} {
		got, err := ParseLevel(c.s)
		if err != nil || got != c.want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", c.s, got, err, c.want)
		}
		if got.String() != c.want.String() {
			t.Errorf("String() = %q", got.String())
		}
	}
	if _, err := ParseLevel("sse2"); err == nil {
		t.Error("ParseLevel(sse2): want an error")
	}
}

// TestArch checks that the levels of one architecture never count as
// present on the other, and that a cap from the other one does not cap.
func TestArch(t *testing.T) {
	for l := AVX2; l <= I8MM; l++ {
		if Has(l) && l.arm() != Supported.arm() {
			t.Errorf("Has(%v) on a %v processor", l, Supported)
		}
	}
	if !Has(Generic) || !Allowed(Generic) {
		t.Error("the reference must always run")
	}
	defer func(c Level) { Cap = c }(Cap)
	for _, c := range []struct {
		cap, l Level
		want   bool
	}{
		{Generic, AVX2, false}, {Generic, NEON, false},
		{AVX2, AVX2, true}, {AVX2, AVX512, false}, {AVX2, I8MM, true},
		{DotProd, NEON, true}, {DotProd, DotProd, true}, {DotProd, I8MM, false}, {DotProd, VNNI, true},
	} {
		Cap = c.cap
		if got := Allowed(c.l); got != c.want {
			t.Errorf("cap %v: Allowed(%v) = %v, want %v", c.cap, c.l, got, c.want)
		}
	}
}
