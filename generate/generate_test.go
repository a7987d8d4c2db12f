package generate

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/lstmq/lstmq/internal/parallel"
	"github.com/lstmq/lstmq/model"
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
		if got := draw(p, blockSums(p), c.u); got != c.want {
			t.Errorf("draw(u=%v) = %d, want %d", c.u, got, c.want)
		}
	}
}

// blockSums returns the sums of p by blocks of drawBlock, in order.
func blockSums(p []float32) []float64 {
	var s []float64
	for lo := 0; lo < len(p); lo += drawBlock {
		var b float64
		for _, x := range p[lo:min(lo+drawBlock, len(p))] {
			b += float64(x)
		}
		s = append(s, b)
	}
	return s
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
	sums := blockSums(p)
	var c float64
	for i, x := range p {
		for _, v := range []float64{c, c + float64(x)/2, c + float64(x)} {
			u := v / total
			if u >= 1 {
				continue
			}
			if got, want := draw(p, sums, u), walk(u); got != want {
				t.Fatalf("word %d: draw(u=%v) = %d, want %d", i, u, got, want)
			}
		}
		c += float64(x)
	}
	if got := draw(p, sums, 1); got != n-1 {
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

// TestDrawOnThreads draws 300 words from a vocabulary of 33,278 on 1 to 4
// threads and wants the same words from the same seed, and no allocation
// per draw on 2 threads.
func TestDrawOnThreads(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	logits := make([]float32, 33278)
	for i := range logits {
		logits[i] = float32(r.NormFloat64() * 3)
	}
	var want []int32
	for th := 1; th <= 4; th++ {
		w := model.NewWork(parallel.NewPool(th))
		s := NewSampler(Options{Temperature: 0.8, Seed: 9})
		var got []int32
		for i := range 300 {
			logits[i*97%len(logits)] += 4 // a different distribution each draw
			got = append(got, s.DrawOn(w, logits))
		}
		for i := range 300 {
			logits[i*97%len(logits)] -= 4
		}
		if th == 1 {
			want = got
			if n := len(slices.Compact(slices.Clone(got))); n < 100 {
				t.Fatalf("only %d distinct runs of words in 300 draws", n)
			}
		} else if !slices.Equal(got, want) {
			t.Fatalf("%d threads drew other words than 1 thread", th)
		}
	}
	w := model.NewWork(parallel.NewPool(2))
	s := NewSampler(Options{Temperature: 1, Seed: 1})
	s.DrawOn(w, logits)
	if a := testing.AllocsPerRun(20, func() { s.DrawOn(w, logits) }); a != 0 {
		t.Errorf("%v allocations per draw on 2 threads, want 0", a)
	}
}
