package eval

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/lstmq/lstmq/corpus"
	"github.com/lstmq/lstmq/internal/f32"
	"github.com/lstmq/lstmq/model"
)

// Result is the outcome of one evaluation.
type Result struct {
	Loss    float64 // the tutorial's loss, natural log
	Tokens  int     // targets scored: (steps − 1)·batch
	Seconds float64 // wall time of the evaluation loop alone
}

// Perplexity returns exp(Loss).
func (r Result) Perplexity() float64 { return math.Exp(r.Loss) }

// TokensPerSecond returns Tokens / Seconds.
func (r Result) TokensPerSecond() float64 {
	if r.Seconds <= 0 {
		return 0
	}
	return float64(r.Tokens) / r.Seconds
}

// DefaultBPTT is the tutorial's chunk length.
const DefaultBPTT = 25

// Evaluator runs evaluate() with reusable buffers, so that repeated chunks
// allocate nothing.
type Evaluator struct {
	Model *model.Model
	BPTT  int         // chunk length; ≤ 0 means DefaultBPTT
	Work  *model.Work // the caller's scratch and pool; nil: one thread
	// Progress, if set, is called after each chunk with the targets scored
	// so far and in all.
	Progress func(done, total int)

	logits []float32
	hidden [2][]float32 // the pipelined loop's hidden states, two chunks
	rows   []float64    // each row's cross entropy, for the pool
	loss   rowLoss      // the pool's task, kept so that a chunk allocates nothing
}

// Run evaluates data (batchified) from a zero state. It fails on a token id
// outside the model's vocabulary, and stops with ctx's error soon after ctx
// is cancelled.
func (e *Evaluator) Run(ctx context.Context, data *corpus.Batches) (Result, error) {
	for i, id := range data.IDs {
		if id < 0 || int(id) >= e.Model.Tokens() {
			return Result{}, fmt.Errorf("token %d has id %d, outside the model's vocabulary of %d words", i, id, e.Model.Tokens())
		}
	}
	return e.runFrom(ctx, data, e.Model.NewState(data.Batch))
}

// runFrom evaluates data from state st, which it leaves at the final state.
func (e *Evaluator) runFrom(ctx context.Context, data *corpus.Batches, st *model.State) (Result, error) {
	m := e.Model
	if e.Work == nil {
		e.Work = model.NewWork(nil)
	}
	bptt := e.BPTT
	if bptt <= 0 {
		bptt = DefaultBPTT
	}
	b := data.Batch
	v := m.Tokens()
	e.logits = f32.Grow(e.logits, bptt*b*v)
	total := 0.0
	steps := data.Steps
	start := time.Now()
	var err error
	if e.Work.Pool().Threads() > 1 && steps-1 > bptt {
		total, err = e.pipelined(ctx, data, st, bptt)
	} else {
		for i := 0; i < steps-1 && err == nil; i += bptt {
			if err = ctx.Err(); err != nil {
				break
			}
			x, y := data.Get(i, bptt)
			t := len(x) / b
			m.Forward(e.Work, e.logits, x, t, b, st)
			total += e.chunkLoss(y, i, t, b, steps)
		}
	}
	if err != nil {
		return Result{}, err
	}
	r := Result{Seconds: time.Since(start).Seconds()}
	if steps > 1 {
		r.Loss = total / float64(steps-1)
		r.Tokens = (steps - 1) * b
	}
	return r, nil
}

// chunkLoss returns t·(the mean cross entropy of the logits of the chunk
// starting at step i against targets y) and reports progress.
func (e *Evaluator) chunkLoss(y []int32, i, t, b, steps int) float64 {
	l := float64(t) * e.meanCrossEntropy(y)
	if e.Progress != nil {
		e.Progress((i+t)*b, (steps-1)*b)
	}
	return l
}

// pipelined is runFrom's loop on more than one thread: the embedding and
// the recurrent layers of chunk c+1 (sequential in time, on a goroutine
// of their own with a one-thread Work) run while the decoder and the loss
// of chunk c (split across the pool) do. Each chunk's products are the
// same as in the sequential loop, so the results are identical to the bit.
func (e *Evaluator) pipelined(ctx context.Context, data *corpus.Batches, st *model.State, bptt int) (float64, error) {
	m, b, steps := e.Model, data.Batch, data.Steps
	h := m.RNN.Hidden()
	const slots = 2
	var hid [slots][]float32
	for k := range hid {
		e.hidden[k] = f32.Grow(e.hidden[k], bptt*b*h)
		hid[k] = e.hidden[k]
	}
	type chunk struct{ i, t, slot int }
	ready := make(chan chunk, slots)
	free := make(chan int, slots)
	for k := range slots {
		free <- k
	}
	stop, done := make(chan struct{}), make(chan struct{})
	defer func() {
		close(stop)
		<-done // the producer no longer touches st
	}()
	go func() {
		defer close(done)
		defer close(ready)
		w := model.NewWork(nil)
		for i := 0; i < steps-1; i += bptt {
			var slot int
			select {
			case slot = <-free:
			case <-stop:
				return
			}
			x, _ := data.Get(i, bptt)
			t := len(x) / b
			m.Hidden(w, hid[slot], x, t, b, st)
			select {
			case ready <- chunk{i, t, slot}:
			case <-stop:
				return
			}
		}
	}()
	total := 0.0
	for c := range ready {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		_, y := data.Get(c.i, bptt)
		m.Decoder.Forward(e.Work, e.logits, hid[c.slot], c.t*b)
		free <- c.slot
		total += e.chunkLoss(y, c.i, c.t, b, steps)
	}
	return total, nil
}

// MeanCrossEntropy returns the mean over rows r of
// log Σ_j exp(logits[r·v+j]) − logits[r·v+targets[r]].
// The log-sum-exp is f32.LogSumExpPortable, so equal logits give the same
// loss, to the bit, on every kernel path and architecture (the int8 losses
// of amd64 and arm64 are equal: their logits are).
func MeanCrossEntropy(logits []float32, targets []int32, v int) float64 {
	var s float64
	for r, y := range targets {
		s += crossEntropy(logits[r*v:(r+1)*v], y)
	}
	return s / float64(len(targets))
}

// crossEntropy is one row's term of MeanCrossEntropy.
func crossEntropy(row []float32, y int32) float64 {
	return float64(f32.LogSumExpPortable(row)) - float64(row[y])
}

// meanCrossEntropy is MeanCrossEntropy of e.logits with the rows split
// across e.Work's pool (a log-sum-exp over the vocabulary per row is a
// fifth of one thread's time). The terms are summed in row order, so the
// result is MeanCrossEntropy's to the bit, on any number of threads.
func (e *Evaluator) meanCrossEntropy(targets []int32) float64 {
	if cap(e.rows) < len(targets) {
		e.rows = make([]float64, len(targets))
	}
	e.loss = rowLoss{logits: e.logits, targets: targets, v: e.Model.Tokens(), out: e.rows[:len(targets)]}
	e.Work.Pool().Run(len(targets), 1, &e.loss)
	e.loss = rowLoss{}
	var s float64
	for _, l := range e.rows[:len(targets)] {
		s += l
	}
	return s / float64(len(targets))
}

// rowLoss is a parallel.Task over rows: out[r] = crossEntropy of row r.
type rowLoss struct {
	logits  []float32
	targets []int32
	v       int
	out     []float64
}

func (l *rowLoss) Run(lo, hi int) {
	for r := lo; r < hi; r++ {
		l.out[r] = crossEntropy(l.logits[r*l.v:(r+1)*l.v], l.targets[r])
	}
}
