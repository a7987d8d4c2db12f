package generate

import (
	"strings"
	"testing"
)

// The expected strings are copied from the tutorial's printed out.txt
// (Python's str(word.encode('utf-8'))).
func TestPyBytesRepr(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{".", `b'.'`},
		{"Ross", `b'Ross'`},
		{"'", `b"'"`},
		{"'re", `b"'re"`},
		{"'état", `b"'\xc3\xa9tat"`},
		{"Fernández", `b'Fern\xc3\xa1ndez'`},
		{`"`, `b'"'`},
		{`'"`, `b'\'"'`},
		{`a\b`, `b'a\\b'`},
		{"\t\x7f", `b'\t\x7f'`},
	} {
		if got := PyBytesRepr(c.in); got != c.want {
			t.Errorf("PyBytesRepr(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestWriteTwentyPerLine(t *testing.T) {
	words := make([]string, 45)
	for i := range words {
		words[i] = "w"
	}
	var sb strings.Builder
	if err := Write(&sb, words, Plain); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(sb.String(), "\n")
	if len(lines) != 3 || strings.Count(lines[0], "w") != 20 || strings.Count(lines[1], "w") != 20 || strings.Count(lines[2], "w") != 5 {
		t.Fatalf("lines = %q", lines)
	}
}

func TestDraw(t *testing.T) {
	p := []float32{0, 0.25, 0, 0.75}
	for _, c := range []struct {
		u    float64
		want int32
	}{{0, 1}, {0.2499, 1}, {0.25, 3}, {0.999999, 3}, {1, 3}} {
		if got := draw(p, c.u); got != c.want {
			t.Errorf("draw(u=%v) = %d, want %d", c.u, got, c.want)
		}
	}
}
