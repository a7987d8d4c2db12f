package generate

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strings"

	"github.com/lstmq/lstmq/internal/f32"
	"github.com/lstmq/lstmq/model"
)

// Options controls sampling.
type Options struct {
	Words       int     // how many words to draw
	Temperature float32 // > 0; 1 samples the model's distribution
	Seed        uint64  // same seed, same model → same words
	// Progress, if set, is called before word i is drawn whenever i%100 == 0,
	// where the tutorial prints "| Generated i/n words".
	Progress func(i, n int)
}

// Sample draws opt.Words word ids from m.
func Sample(m *model.Model, opt Options) ([]int32, error) {
	if opt.Temperature <= 0 {
		return nil, fmt.Errorf("temperature must be > 0, got %v", opt.Temperature)
	}
	v := m.Tokens()
	rng := rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x9e3779b97f4a7c15))
	st := m.NewState(1)
	logits := make([]float32, v)
	probs := make([]float32, v)
	in := []int32{int32(rng.IntN(v))}
	out := make([]int32, 0, opt.Words)
	for i := range opt.Words {
		if opt.Progress != nil && i%100 == 0 {
			opt.Progress(i, opt.Words)
		}
		m.Forward(logits, in, 1, 1, st)
		f32.Softmax(probs, logits, opt.Temperature)
		in[0] = draw(probs, rng.Float64())
		out = append(out, in[0])
	}
	return out, nil
}

// draw returns the first index whose cumulative probability exceeds u·Σp.
func draw(p []float32, u float64) int32 {
	var total float64
	for _, x := range p {
		total += float64(x)
	}
	u *= total
	var c float64
	for i, x := range p {
		c += float64(x)
		if u < c {
			return int32(i)
		}
	}
	// Rounding left u at the very top: take the last word with mass.
	for i := len(p) - 1; i > 0; i-- {
		if p[i] > 0 {
			return int32(i)
		}
	}
	return 0
}

// Format selects how Write prints words.
type Format int

const (
	// Plain prints the words as they are.
	Plain Format = iota
	// PyBytes prints each word as Python's str(word.encode('utf-8')), as the
	// tutorial's out.txt does: b'word'.
	PyBytes
)

// Write prints words, 20 to a line separated by spaces, as the tutorial does.
func Write(w io.Writer, words []string, f Format) error {
	var sb strings.Builder
	for i, word := range words {
		if f == PyBytes {
			word = PyBytesRepr(word)
		}
		sb.WriteString(word)
		if i%20 == 19 {
			sb.WriteByte('\n')
		} else {
			sb.WriteByte(' ')
		}
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

// PyBytesRepr returns Python's repr of s.encode('utf-8'): b'…' (b"…" when s
// holds a single quote and no double quote), with \\, \t, \n, \r, the quote,
// and bytes outside 0x20..0x7e escaped as \xhh.
func PyBytesRepr(s string) string {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	var sb strings.Builder
	sb.WriteByte('b')
	sb.WriteByte(q)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == q || c == '\\':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case c == '\t':
			sb.WriteString(`\t`)
		case c == '\n':
			sb.WriteString(`\n`)
		case c == '\r':
			sb.WriteString(`\r`)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&sb, `\x%02x`, c)
		default:
			sb.WriteByte(c)
		}
	}
	sb.WriteByte(q)
	return sb.String()
}
