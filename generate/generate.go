package generate

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/lstmq/lstmq/internal/f32"
	"github.com/lstmq/lstmq/model"
)

// Options controls sampling.
type Options struct {
	Words       int     // how many words to draw
	Temperature float32 // > 0; 1 samples the model's distribution
	TopK        int     // if > 0, draw only among the k most likely words
	TopP        float64 // if in (0, 1), draw only among the most likely words whose probabilities reach TopP
	Seed        uint64  // same seed, same model → same words
	// Progress, if set, is called before word i is drawn whenever i%100 == 0,
	// where the tutorial prints "| Generated i/n words".
	Progress func(i, n int)
}

// Check reports whether the options are valid.
func (o Options) Check() error {
	switch {
	case !(o.Temperature > 0) || math.IsInf(float64(o.Temperature), 0):
		return fmt.Errorf("temperature must be > 0, got %v", o.Temperature)
	case o.TopK < 0:
		return fmt.Errorf("top-k must be >= 0, got %d", o.TopK)
	case !(o.TopP >= 0 && o.TopP <= 1):
		return fmt.Errorf("top-p must be in [0, 1], got %v", o.TopP)
	case o.Words < 0:
		return fmt.Errorf("words must be >= 0, got %d", o.Words)
	}
	return nil
}

// Sample draws opt.Words word ids from m as the tutorial does: the first
// input is a word drawn uniformly, then each drawn word is the next input.
func Sample(w *model.Work, m *model.Model, opt Options) ([]int32, error) {
	if err := opt.Check(); err != nil {
		return nil, err
	}
	v := m.Tokens()
	s := NewSampler(opt)
	st := m.NewState(1)
	logits := make([]float32, v)
	in := []int32{s.Uniform(v)}
	out := make([]int32, 0, opt.Words)
	for i := range opt.Words {
		if opt.Progress != nil && i%100 == 0 {
			opt.Progress(i, opt.Words)
		}
		m.Forward(w, logits, in, 1, 1, st)
		in[0] = s.DrawOn(w, logits)
		out = append(out, in[0])
	}
	return out, nil
}

// A Sampler draws word ids from logits: softmax(logits/Temperature),
// restricted to the TopK most likely words and then to the smallest set of
// most likely words whose probabilities reach TopP, renormalized. Its random
// numbers come from a PCG seeded with Seed. A Sampler is not safe for
// concurrent use.
type Sampler struct {
	opt   Options
	rng   *rand.Rand
	probs []float32
	order []int32
	sums  []float64 // draw's block sums
	pass  expPass   // DrawOn's task, kept so that a draw allocates nothing
}

// NewSampler returns a sampler; opt must pass Check.
func NewSampler(opt Options) *Sampler {
	return &Sampler{opt: opt, rng: rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x9e3779b97f4a7c15))}
}

// Draw returns a word id drawn from logits.
func (s *Sampler) Draw(logits []float32) int32 { return s.DrawOn(nil, logits) }

// DrawOn is Draw with the pass over the vocabulary split across w's pool
// (nil: one thread). The word drawn does not depend on the threads.
func (s *Sampler) DrawOn(w *model.Work, logits []float32) int32 {
	s.probs = f32.Grow(s.probs, len(logits))
	k := s.opt.TopK
	if k >= len(logits) {
		k = 0
	}
	if k == 0 && (s.opt.TopP == 0 || s.opt.TopP == 1) {
		// p_i ∝ e_i = exp(x_i/T − max_j x_j/T), by blocks, unnormalized.
		nb := (len(logits) + drawBlock - 1) / drawBlock
		if cap(s.sums) < nb {
			s.sums = make([]float64, nb)
		}
		inv := 1 / s.opt.Temperature
		s.pass = expPass{probs: s.probs, logits: logits, sums: s.sums[:nb], inv: inv, sub: f32.Max(logits) * inv}
		w.Pool().Run(nb, drawGrain, &s.pass)
		s.pass = expPass{}
		return draw(s.probs, s.sums[:nb], s.rng.Float64())
	}
	f32.Softmax(s.probs, logits, s.opt.Temperature)
	s.order = s.order[:0]
	for i := range s.probs {
		s.order = append(s.order, int32(i))
	}
	// Most likely first; ties by id, so the order is the same everywhere.
	slices.SortFunc(s.order, func(a, b int32) int {
		if c := cmp.Compare(s.probs[b], s.probs[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	keep := s.order
	if k > 0 {
		keep = keep[:k]
	}
	if p := s.opt.TopP; p > 0 && p < 1 {
		var total, c float64
		for _, id := range keep {
			total += float64(s.probs[id])
		}
		for n, id := range keep {
			c += float64(s.probs[id])
			if c >= p*total {
				keep = keep[:n+1]
				break
			}
		}
	}
	var total float64
	for _, id := range keep {
		total += float64(s.probs[id])
	}
	u := s.rng.Float64() * total
	var c float64
	for _, id := range keep {
		c += float64(s.probs[id])
		if u < c {
			return id
		}
	}
	return keep[len(keep)-1]
}

// drawBlock is how many words have one partial sum; drawGrain how many
// blocks a thread takes at least.
const (
	drawBlock = 256
	drawGrain = 16
)

// expPass is the sampler's pass over the vocabulary, as a parallel.Task
// over blocks: e_i into probs and each block's Σ e_i into sums. Rounding
// does not depend on which thread runs a block (see f32.ExpSum).
type expPass struct {
	probs, logits []float32
	sums          []float64
	inv, sub      float32
}

func (e *expPass) Run(lo, hi int) {
	for b := lo; b < hi; b++ {
		j0, j1 := b*drawBlock, min((b+1)*drawBlock, len(e.logits))
		e.sums[b] = f32.ExpSum(e.probs[j0:j1], e.logits[j0:j1], e.inv, e.sub)
	}
}

// draw returns the first index i whose cumulative weight Σ_{j≤i} p_j
// exceeds u·Σp, given sums, the sums of p by blocks of drawBlock. It finds
// the block from the block sums, then walks that block alone: a walk over
// the whole vocabulary would be one chain of 33,278 dependent adds.
func draw(p []float32, sums []float64, u float64) int32 {
	var total float64
	for _, sb := range sums {
		total += sb
	}
	u *= total
	var c float64
	for b, sb := range sums {
		if !(u < c+sb) {
			c += sb
			continue
		}
		lo := b * drawBlock
		q := p[lo:min(lo+drawBlock, len(p))]
		for i, x := range q {
			c += float64(x)
			if u < c {
				return int32(lo + i)
			}
		}
		// The walk's rounding differs from the block's sum: take the
		// block's last word with weight.
		for i := len(q) - 1; i >= 0; i-- {
			if q[i] > 0 {
				return int32(lo + i)
			}
		}
	}
	// Rounding left u at the very top: take the last word with weight.
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

// Uniform returns a word id drawn uniformly from [0, n), from the same
// random stream as Draw: the tutorial's first input.
func (s *Sampler) Uniform(n int) int32 { return int32(s.rng.IntN(n)) }
