package corpus

import (
	"slices"
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" \t\n", nil},
		{"the cat", []string{"the", "cat"}},
		{"  a\u00a0b\u3000c\r\nd\u200be ", []string{"a", "b", "c", "d\u200be"}}, // U+200B is not a space in Python
		{"\x1cx\x1fy", []string{"x", "y"}},
	} {
		got, err := Split(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("Split(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := Split("ok \xff bad"); err == nil || !strings.Contains(err.Error(), "byte 0xff at offset 3") {
		t.Errorf("invalid UTF-8: err = %v", err)
	}
	if _, err := Split(strings.Repeat("a", MaxWord+1)); err == nil || !strings.Contains(err.Error(), "MaxWord") {
		t.Errorf("long word: err = %v", err)
	}
}
