package lstmq

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/lstmq/lstmq/generate"
	"github.com/lstmq/lstmq/internal/f32"
	"github.com/lstmq/lstmq/model"
)

// Session holds one recurrent state of a Model, with the scratch buffers
// its runs use. It starts as the model starts a line: from the zero state,
// about to read <eos>. A Session is not safe for concurrent use; make one
// per goroutine (NewSession is cheap) or Clone one.
type Session struct {
	m      *Model
	work   *model.Work
	ahead  [2]*model.Work // Score's recurrent stage on more than one thread
	lse    rowLSE         // Score's log-sum-exps on the pool, kept so that they allocate nothing
	state  *model.State
	fresh  bool      // zero state, <eos> not yet read
	logits []float32 // the next word's logits once !fresh
}

// NewSession returns a session at the start of a line.
func (m *Model) NewSession() *Session {
	return &Session{m: m, work: model.NewWork(m.pool), state: m.net.NewState(1), fresh: true}
}

// Reset brings the session back to the start of a line.
func (s *Session) Reset() {
	s.state.Reset()
	s.fresh = true
}

// Clone returns an independent copy of the session's state (for beam
// search: one session per hypothesis).
func (s *Session) Clone() *Session {
	c := &Session{m: s.m, work: model.NewWork(s.m.pool), state: s.state.Clone(), fresh: s.fresh}
	if !s.fresh {
		c.logits = append([]float32(nil), s.logits...)
	}
	return c
}

// SentenceScore is the score of one sentence under the scoring convention
// (see the package documentation).
type SentenceScore struct {
	LogProb float64      // Σ of Tokens' log-probabilities, natural log
	Tokens  []TokenScore // w1 … wn, then <eos>: n+1 entries
	OOV     int          // words scored as <unk>
}

// Perplexity returns exp(−LogProb / len(Tokens)).
func (r SentenceScore) Perplexity() float64 {
	return math.Exp(-r.LogProb / float64(len(r.Tokens)))
}

// TokenScore is one predicted word of a sentence.
type TokenScore struct {
	Word    string  // as written in the sentence, or "<eos>"
	ID      int32   // its id (<unk>'s when Unknown)
	LogProb float64 // log P(word | the words before it), natural log
	Unknown bool    // not in the vocabulary, scored as <unk>
}

// Candidate is a possible next word.
type Candidate struct {
	Word string
	ID   int32
	Prob float64
}

// scoreBlock is how many rows of logits Score holds at once.
const scoreBlock = 64

// Score returns the score of each sentence, in order, under the scoring
// convention. It runs the sentences in batches of the model's batch size,
// sorted by length, each batch from the zero state, and does not touch the
// session's own state. It stops soon after ctx is cancelled and returns
// ctx's error.
func (s *Session) Score(ctx context.Context, sentences []string) ([]SentenceScore, error) {
	m := s.m
	if err := m.needVocab(); err != nil {
		return nil, err
	}
	res := make([]SentenceScore, len(sentences))
	ids := make([][]int32, len(sentences))
	for i, text := range sentences {
		toks, err := m.Tokenize(text)
		if err != nil {
			return nil, fmt.Errorf("sentence %d: %w", i, err)
		}
		r := &res[i]
		r.Tokens = make([]TokenScore, len(toks)+1)
		ids[i] = make([]int32, len(toks))
		for j, t := range toks {
			r.Tokens[j] = TokenScore{Word: t.Word, ID: t.ID, Unknown: t.Unknown}
			ids[i][j] = t.ID
			if t.Unknown {
				r.OOV++
			}
		}
		r.Tokens[len(toks)] = TokenScore{Word: m.vocab.words[m.vocab.eos], ID: m.vocab.eos}
	}
	var err error
	if bs := s.batches(ids); s.m.pool.Threads() > 1 && len(bs) > 1 {
		err = s.scorePipelined(ctx, bs, ids, res)
	} else {
		err = s.inBatches(ctx, ids, func(batch []int) error {
			mk := s.work.Mark()
			defer s.work.Release(mk)
			hid, t := s.runPadded(s.work, batch, ids)
			return s.decodeBatch(ctx, batch, ids, hid, t, res)
		})
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// scorePipelined is Score's loop on more than one thread: the embedding
// and the recurrent layers of batch k+1 (on a goroutine of their own, one
// thread) run while the decoder of batch k (split across the pool) does.
// Each batch is computed as in the sequential loop, so the results are
// identical to the bit.
func (s *Session) scorePipelined(ctx context.Context, bs [][]int, ids [][]int32, res []SentenceScore) error {
	type stage struct {
		k, slot, t int
		hid        []float32
		mark       model.Mark
	}
	for i := range s.ahead {
		if s.ahead[i] == nil {
			s.ahead[i] = model.NewWork(nil)
		}
	}
	ready, free := make(chan stage, len(s.ahead)), make(chan int, len(s.ahead))
	for i := range s.ahead {
		free <- i
	}
	stop, done := make(chan struct{}), make(chan struct{})
	finished := false
	defer func() {
		close(stop)
		<-done
		if !finished { // a batch may still hold scratch: start afresh next time
			s.ahead = [2]*model.Work{}
		}
	}()
	go func() {
		defer close(done)
		defer close(ready)
		for k, batch := range bs {
			var slot int
			select {
			case slot = <-free:
			case <-stop:
				return
			}
			w := s.ahead[slot]
			st := stage{k: k, slot: slot, mark: w.Mark()}
			st.hid, st.t = s.runPadded(w, batch, ids)
			select {
			case ready <- st:
			case <-stop:
				return
			}
		}
	}()
	for st := range ready {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := s.decodeBatch(ctx, bs[st.k], ids, st.hid, st.t, res)
		s.ahead[st.slot].Release(st.mark)
		free <- st.slot
		if err != nil {
			return err
		}
	}
	finished = ctx.Err() == nil
	return ctx.Err()
}

// inBatches calls run on each of s.batches(ids) in turn, until ctx is
// cancelled or run fails.
func (s *Session) inBatches(ctx context.Context, ids [][]int32, run func(batch []int) error) error {
	for _, batch := range s.batches(ids) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := run(batch); err != nil {
			return err
		}
	}
	return nil
}

// batches returns the indices of ids sorted by length (stable), in
// batches of the model's batch size.
func (s *Session) batches(ids [][]int32) [][]int {
	order := make([]int, len(ids))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(len(ids[a]), len(ids[b])) })
	var bs [][]int
	for lo := 0; lo < len(order); lo += s.m.cfg.batch {
		bs = append(bs, order[lo:min(lo+s.m.cfg.batch, len(order))])
	}
	return bs
}

// decodeBatch scores the sentences batch (indices into ids and res) from
// hid, the recurrent outputs runPadded gave for them (t steps): the
// inputs, time-major, are <eos> w1 … wn padded with <eos>. The padding
// comes after a sentence's last input, so it changes nothing before it
// (the model reads left to right), and the decoder skips it.
func (s *Session) decodeBatch(ctx context.Context, batch []int, ids [][]int32, hid []float32, t int, res []SentenceScore) error {
	m := s.m
	b := len(batch)
	w := s.work
	mk := w.Mark()
	defer w.Release(mk)
	h := m.net.RNN.Hidden()
	// The decoder runs on the rows that have a target only, not on the
	// padding: row r of rows is (step, j) of the batch.
	rows := make([][2]int, 0, t*b)
	dense := w.Float32s(t * b * h)
	for step := range t {
		for j, i := range batch {
			if step <= len(ids[i]) {
				src := (step*b + j) * h
				copy(dense[len(rows)*h:(len(rows)+1)*h], hid[src:src+h])
				rows = append(rows, [2]int{step, j})
			}
		}
	}
	v := m.net.Tokens()
	block := max(1, scoreBlock/b) * b
	lses := w.Float32s(block)
	return m.net.Decoder.ForwardBlocks(w, dense, len(rows), block, func(out []float32, r0, r1 int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		// The rows' log-sum-exps on the pool, then the sums in row order.
		s.lse = rowLSE{x: out, v: v, out: lses}
		w.Pool().Run(r1-r0, 1, &s.lse)
		s.lse = rowLSE{}
		for r := r0; r < r1; r++ {
			step, i := rows[r][0], batch[rows[r][1]]
			row := out[(r-r0)*v : (r-r0+1)*v]
			tok := &res[i].Tokens[step]
			lp := float64(row[tok.ID]) - float64(lses[r-r0])
			tok.LogProb = lp
			res[i].LogProb += lp
		}
		return nil
	})
}

// rowLSE is a parallel.Task over rows: out[r] = log Σ_j exp(x[r·v+j]).
type rowLSE struct {
	x   []float32
	v   int
	out []float32
}

func (t *rowLSE) Run(lo, hi int) {
	for r := lo; r < hi; r++ {
		t.out[r] = f32.LogSumExp(t.x[r*t.v : (r+1)*t.v])
	}
}

// Feed advances the state through the words of text (split as Score
// splits them), in chunks of 256 words. At the start of a line it reads <eos>
// first, so an empty text then reads just <eos>. If ctx is cancelled before
// the end, the state is left as it was.
func (s *Session) Feed(ctx context.Context, text string) error {
	toks, err := s.m.Tokenize(text)
	if err != nil {
		return err
	}
	ids := make([]int32, 0, len(toks)+1)
	if s.fresh {
		ids = append(ids, s.m.vocab.eos)
	}
	for _, t := range toks {
		ids = append(ids, t.ID)
	}
	return s.run(ctx, ids)
}

// FeedIDs is Feed for word ids, each in [0, Tokens()).
func (s *Session) FeedIDs(ctx context.Context, ids []int32) error {
	for _, id := range ids {
		if id < 0 || int(id) >= s.m.net.Tokens() {
			return mark(ErrInput, "word id %d outside [0, %d)", id, s.m.net.Tokens())
		}
	}
	if s.fresh && s.m.vocab != nil {
		ids = append([]int32{s.m.vocab.eos}, ids...)
	}
	return s.run(ctx, ids)
}

// feedChunk is the longest chunk Feed runs at once.
const feedChunk = 256

// run advances the state through ids in chunks, keeping the logits that
// follow the last one.
func (s *Session) run(ctx context.Context, ids []int32) (err error) {
	net := s.m.net
	w := s.work
	if len(ids) > feedChunk {
		// A long feed stops between chunks when ctx is cancelled: it then
		// leaves the state as it found it.
		st, logits, fresh := s.state.Clone(), append([]float32(nil), s.logits...), s.fresh
		defer func() {
			if err != nil {
				s.state, s.logits, s.fresh = st, logits, fresh
			}
		}()
	}
	for lo := 0; lo < len(ids); lo += feedChunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk := ids[lo:min(lo+feedChunk, len(ids))]
		mk := w.Mark()
		hid := w.Float32s(len(chunk) * net.RNN.Hidden())
		net.Hidden(w, hid, chunk, len(chunk), 1, s.state)
		s.logits = f32.Grow(s.logits, net.Tokens())
		net.Decoder.Forward(w, s.logits, hid[(len(chunk)-1)*net.RNN.Hidden():], 1)
		w.Release(mk)
		s.fresh = false
	}
	return nil
}

// next returns the logits of the next word, reading <eos> first at the
// start of a line.
func (s *Session) next() []float32 {
	if s.fresh {
		s.run(context.Background(), []int32{s.m.vocab.eos})
	}
	return s.logits
}

// Next returns the k most likely next words, most likely first (ties by
// id). It returns nil without a vocabulary.
func (s *Session) Next(k int) []Candidate {
	if s.m.vocab == nil || k <= 0 {
		return nil
	}
	return s.m.topK(s.next(), k)
}

// topK returns the k most likely words of logits, most likely first (ties
// by id), with their softmax probabilities.
func (m *Model) topK(logits []float32, k int) []Candidate {
	k = min(max(k, 0), len(logits))
	if k == 0 {
		return nil
	}
	// Keep the best k logits seen so far in a slice sorted best first
	// (Prob holds the logit until the end): k is small, and a word enters
	// only if it beats the k-th.
	best := make([]Candidate, 0, k+1)
	for id, l := range logits {
		if len(best) == k && float64(l) <= best[k-1].Prob {
			continue
		}
		c := Candidate{ID: int32(id), Prob: float64(l)}
		at, _ := slices.BinarySearchFunc(best, c, func(a, b Candidate) int {
			if a.Prob != b.Prob {
				return cmp.Compare(b.Prob, a.Prob)
			}
			return cmp.Compare(a.ID, b.ID)
		})
		best = slices.Insert(best, at, c)
		if len(best) > k {
			best = best[:k]
		}
	}
	lse := float64(f32.LogSumExp(logits))
	for i := range best {
		best[i].Word = m.vocab.words[best[i].ID]
		best[i].Prob = math.Exp(best[i].Prob - lse)
	}
	return best
}

// NextBatch returns, for each context, the k most likely words after it,
// as a fresh session that read the context would give them: each context
// is read from the zero state after <eos>. The contexts run side by side
// in batches of the model's batch size, padded, as Score runs its
// sentences; the session's own state is not touched. In int8 the
// activations' scale is chosen per batch, so the probabilities may differ
// slightly from Feed and Next, one context at a time.
func (s *Session) NextBatch(ctx context.Context, contexts []string, k int) ([][]Candidate, error) {
	m := s.m
	if err := m.needVocab(); err != nil {
		return nil, err
	}
	ids := make([][]int32, len(contexts))
	for i, text := range contexts {
		toks, err := m.Tokenize(text)
		if err != nil {
			return nil, fmt.Errorf("context %d: %w", i, err)
		}
		for _, t := range toks {
			ids[i] = append(ids[i], t.ID)
		}
	}
	out := make([][]Candidate, len(contexts))
	if err := s.inBatches(ctx, ids, func(batch []int) error { return s.nextBatch(batch, ids, k, out) }); err != nil {
		return nil, err
	}
	return out, nil
}

// nextBatch runs the contexts batch side by side and keeps the top k after
// each one's last word.
func (s *Session) nextBatch(batch []int, ids [][]int32, k int, out [][]Candidate) error {
	m := s.m
	b := len(batch)
	w := s.work
	mk := w.Mark()
	defer w.Release(mk)
	h := m.net.RNN.Hidden()
	hid, _ := s.runPadded(w, batch, ids)
	last := w.Float32s(b * h) // each context's last hidden state
	for j, i := range batch {
		step := len(ids[i])
		copy(last[j*h:(j+1)*h], hid[(step*b+j)*h:(step*b+j+1)*h])
	}
	v := m.net.Tokens()
	logits := w.Float32s(b * v)
	m.net.Decoder.Forward(w, logits, last, b)
	for j, i := range batch {
		out[i] = m.topK(logits[j*v:(j+1)*v], k)
	}
	return nil
}

// runPadded lays out the sentences batch (indices into ids) time-major,
// each as <eos> w1 … wn padded with <eos> to the longest, t steps, and
// runs the embedding and the recurrent layers over them from the zero
// state. It returns the last layer's outputs, t×len(batch)×nhid, in w's
// scratch: the caller marks and releases it.
func (s *Session) runPadded(w *model.Work, batch []int, ids [][]int32) (hid []float32, t int) {
	b := len(batch)
	for _, i := range batch {
		t = max(t, len(ids[i])+1)
	}
	eos := s.m.vocab.eos
	in := make([]int32, t*b)
	for j, i := range batch {
		for step := range t {
			id := eos
			if step > 0 && step <= len(ids[i]) {
				id = ids[i][step-1]
			}
			in[step*b+j] = id
		}
	}
	net := s.m.net
	hid = w.Float32s(t * b * net.RNN.Hidden())
	net.Hidden(w, hid, in, t, b, net.NewState(b))
	return hid, t
}

// GenerateOptions controls Generate.
type GenerateOptions struct {
	Prompt      string  // words to read first; see Generate
	Words       int     // how many words to draw
	Temperature float64 // > 0; 0 means 1 (the model's distribution)
	TopK        int     // if > 0, draw only among the k most likely words
	TopP        float64 // if in (0, 1), draw among the most likely words whose probabilities reach TopP
	Seed        uint64  // same seed, same model, same state → same words
	// OnWord, if set, is called with each word as it is drawn; an error
	// stops Generate and is returned.
	OnWord func(word string) error
}

// Generate draws opts.Words words and returns them joined by spaces, with
// the state advanced through them. With a Prompt, the prompt is fed first
// and the words continue it. Without one, a session that has read words
// continues from its state, and a session at the start of a line samples
// as the tutorial does: its first input is a word drawn uniformly at
// random (not returned), so that the same seed gives the same text as
// `lstmq generate --seed`.
func (s *Session) Generate(ctx context.Context, opts GenerateOptions) (string, error) {
	if err := s.m.needVocab(); err != nil {
		return "", err
	}
	if opts.Temperature == 0 {
		opts.Temperature = 1
	}
	gopt := generate.Options{Words: opts.Words, Temperature: float32(opts.Temperature), TopK: opts.TopK, TopP: opts.TopP, Seed: opts.Seed}
	if err := gopt.Check(); err != nil {
		return "", mark(ErrOption, "%w", err)
	}
	sampler := generate.NewSampler(gopt)
	if strings.TrimSpace(opts.Prompt) != "" {
		if err := s.Feed(ctx, opts.Prompt); err != nil {
			return "", err
		}
	} else if s.fresh {
		first := sampler.Uniform(s.m.net.Tokens())
		if err := s.run(ctx, []int32{first}); err != nil {
			return "", err
		}
	}
	words := make([]string, 0, opts.Words)
	in := []int32{0}
	for range opts.Words {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		in[0] = sampler.DrawOn(s.work, s.logits)
		word := s.m.vocab.words[in[0]]
		words = append(words, word)
		if opts.OnWord != nil {
			if err := opts.OnWord(word); err != nil {
				return "", err
			}
		}
		if err := s.run(ctx, in); err != nil {
			return "", err
		}
	}
	return strings.Join(words, " "), nil
}
