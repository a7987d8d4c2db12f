package generate

import (
	"math"
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
		if got, _ := draw(p, c.u, nil); got != c.want {
			t.Errorf("draw(u=%v) = %d, want %d", c.u, got, c.want)
		}
	}
}

// TestDrawBlocks draws from 1,000 words (four blocks, the last partial,
// some words and one whole block without mass) whose probabilities are
// multiples of 2⁻¹⁶, so every sum is exact, and wants the index a plain
// cumulative walk in float64 finds, for u at and around every boundary.
func TestDrawBlocks(t *testing.T) {
	const n = 1000
	p := make([]float32, n)
	for i := range p {
		if i%7 != 3 && (i < 256 || i >= 512) {
			p[i] = float32(1+i%5) / (1 << 16)
		}
	}
	var total float64
	for _, x := range p {
		total += float64(x)
	}
	walk := func(u float64) int32 {
		var c float64
		for i, x := range p {
			c += float64(x)
			if u*total < c {
				return int32(i)
			}
		}
		return -1
	}
	var sums []float64
	var c float64
	for i, x := range p {
		for _, v := range []float64{c, c + float64(x)/2, c + float64(x)} {
			u := v / total
			if u >= 1 {
				continue
			}
			var got int32
			got, sums = draw(p, u, sums)
			if want := walk(u); got != want {
				t.Fatalf("word %d: draw(u=%v) = %d, want %d", i, u, got, want)
			}
		}
		c += float64(x)
	}
	if got, _ := draw(p, 1, sums); got != n-1 {
		t.Errorf("draw(u=1) = %d, want the last word with mass, %d", got, n-1)
	}
}

// TestSamplerTemperature draws 100,000 words from three logits at
// temperatures 0.5, 1 and 2 and wants the frequencies of softmax(logits/T)
// (computed here in float64) within 0.005, and top-k 1 to always give the
// most likely word.
func TestSamplerTemperature(t *testing.T) {
	logits := []float32{0, 1, 2}
	for _, temp := range []float32{0.5, 1, 2} {
		s := NewSampler(Options{Temperature: temp, Seed: 42})
		var counts [3]int
		const n = 100000
		for range n {
			counts[s.Draw(logits)]++
		}
		var z float64
		want := make([]float64, 3)
		for i, l := range logits {
			want[i] = math.Exp(float64(l) / float64(temp))
			z += want[i]
		}
		for i := range want {
			if got := float64(counts[i]) / n; math.Abs(got-want[i]/z) > 0.005 {
				t.Errorf("T=%v: word %d drawn %.4f of the time, softmax gives %.4f", temp, i, got, want[i]/z)
			}
		}
	}
	s := NewSampler(Options{Temperature: 1, TopK: 1, Seed: 1})
	for range 100 {
		if id := s.Draw(logits); id != 2 {
			t.Fatalf("top-k 1 drew %d", id)
		}
	}
}
