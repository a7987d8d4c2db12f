package cpu

import "testing"

func TestParseLevel(t *testing.T) {
	for _, c := range []struct {
		s    string
		want Level
	}{{"generic", Generic}, {"AVX2", AVX2}, {"avxvnni", AVXVNNI}, {"avx512", AVX512}, {"vnni", VNNI}} {
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
