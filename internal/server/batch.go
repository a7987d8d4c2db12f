package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/lstmq/lstmq"
)

// A job is one score or next request waiting for the batcher.
type job struct {
	ctx     context.Context
	kind    string   // "score" or "next"
	texts   []string // sentences, or one context
	k       int      // next: how many candidates
	release func()   // gives back the request's queue slot
	done    chan struct{}

	score []lstmq.SentenceScore
	next  []lstmq.Candidate
	err   error
}

func (j *job) finish(err error) {
	j.err = err
	j.release()
	close(j.done)
}

// batcher is the dynamic batcher of one model: one goroutine that owns a
// Session, gathers the queued score and next requests into rounds of up
// to MaxBatch rows and runs each round as one Score and one NextBatch
// call (the library runs a call's rows side by side, in forwards of
// MaxBatch, the model's batch size). A request's texts stay together
// and in order.
//
// A round starts with the oldest request. It takes what is already
// queued, and waits (for at most BatchDelay from the start of the round)
// only while it has fewer requests than were in the system at the end of
// the round before (that round's and those queued meanwhile): at a
// steady concurrency of n clients it waits for the n to come back, up to
// MaxBatch, and a lone client never waits.
type batcher struct {
	s    *Server
	sv   *served
	sess *lstmq.Session
	jobs chan *job
	stop chan struct{}
	done chan struct{}
	want int // requests the next round waits for: those in the system at the end of the last one
}

func newBatcher(s *Server, sv *served) *batcher {
	b := &batcher{s: s, sv: sv, sess: sv.m.NewSession(), jobs: make(chan *job, s.cfg.MaxQueue),
		stop: make(chan struct{}), done: make(chan struct{})}
	go b.run()
	return b
}

var errShutdown = &httpError{code: http.StatusServiceUnavailable, msg: "the server is shutting down", retryAfter: 1}

// close stops the batcher after its current round; queued requests get
// 503.
func (b *batcher) close() {
	close(b.stop)
	<-b.done
	for {
		select {
		case j := <-b.jobs:
			j.finish(errShutdown)
		default:
			return
		}
	}
}

// do queues j (whose release is set) and waits for its result or for
// ctx to end.
func (b *batcher) do(ctx context.Context, j *job) error {
	j.ctx, j.done = ctx, make(chan struct{})
	select {
	case b.jobs <- j:
	default: // cannot happen while admit bounds the queue, but never block
		j.release()
		return busy("model %q: queue full", b.sv.name)
	}
	select {
	case <-j.done:
		return j.err
	case <-ctx.Done():
		return ctx.Err() // the batcher skips j, or its result is dropped
	}
}

func (b *batcher) run() {
	defer close(b.done)
	var held *job // the request that did not fit in the last round
	for {
		first := held
		held = nil
		if first == nil {
			select {
			case first = <-b.jobs:
			case <-b.stop:
				return
			}
		}
		if err := first.ctx.Err(); err != nil { // its client is gone: nothing to wait for
			first.finish(err)
			continue
		}
		round, rows := []*job{first}, len(first.texts)
		deadline := time.Now().Add(b.s.cfg.BatchDelay)
		var timer *time.Timer
	gather:
		for rows < b.s.cfg.MaxBatch {
			var j *job
			select {
			case j = <-b.jobs:
			default:
				wait := time.Until(deadline)
				if len(round) >= b.want || wait <= 0 {
					break gather
				}
				if timer == nil {
					timer = time.NewTimer(wait)
				}
				select {
				case j = <-b.jobs:
				case <-timer.C:
					break gather
				case <-b.stop:
					break gather
				}
			}
			if err := j.ctx.Err(); err != nil {
				j.finish(err)
				continue
			}
			if rows+len(j.texts) > b.s.cfg.MaxBatch {
				held = j
				break
			}
			round, rows = append(round, j), rows+len(j.texts)
		}
		if timer != nil {
			timer.Stop()
		}
		b.runRound(round)
		// The requests of this round, whose clients may send again at
		// once, and those that queued meanwhile: with n clients, n.
		b.want = min(len(round)+len(b.jobs), b.s.cfg.MaxBatch)
		if held != nil {
			b.want++
		}
	}
}

// runRound runs the live requests of round: the score ones as one Score
// call, the next ones as one NextBatch call.
func (b *batcher) runRound(round []*job) {
	var score, next []*job
	for _, j := range round {
		switch {
		case j.ctx.Err() != nil:
			j.finish(j.ctx.Err())
		case j.kind == "score":
			score = append(score, j)
		default:
			next = append(next, j)
		}
	}
	if len(score) > 0 {
		b.runScore(score)
	}
	if len(next) > 0 {
		b.runNext(next)
	}
}

func (b *batcher) runScore(js []*job) {
	var texts []string
	for _, j := range js {
		texts = append(texts, j.texts...)
	}
	var res []lstmq.SentenceScore
	err := b.call(js, "score", texts, func(ctx context.Context) (err error) {
		res, err = b.sess.Score(ctx, texts)
		return err
	})
	if err != nil {
		return
	}
	for _, j := range js {
		j.score, res = res[:len(j.texts):len(j.texts)], res[len(j.texts):]
		j.finish(nil)
	}
}

func (b *batcher) runNext(js []*job) {
	texts := make([]string, len(js))
	k := 0
	for i, j := range js {
		texts[i] = j.texts[0]
		k = max(k, j.k)
	}
	var res [][]lstmq.Candidate
	err := b.call(js, "next", texts, func(ctx context.Context) (err error) {
		res, err = b.sess.NextBatch(ctx, texts, k)
		return err
	})
	if err != nil {
		return
	}
	// The top k of the larger top list: candidates are ordered by
	// probability then id, so its first j.k are the top j.k.
	for i, j := range js {
		j.next = res[i][:min(j.k, len(res[i]))]
		j.finish(nil)
	}
}

// call runs f for the requests js under a context that ends when all of
// theirs have, and records the batch. On an error it finishes js: each
// with its own context's error if that ended, and when more than one
// request shared the call, by running each again alone, so that one bad
// request does not fail the others.
func (b *batcher) call(js []*job, kind string, texts []string, f func(context.Context) error) error {
	ctx, cancel := jointContext(js)
	defer cancel()
	err := b.safely(func() error {
		b.s.hook(kind, texts)
		return f(ctx)
	})
	if err == nil {
		for n := len(texts); n > 0; n -= b.s.cfg.MaxBatch {
			b.s.met.batchRows.WithLabelValues(b.sv.name, kind).Observe(float64(min(n, b.s.cfg.MaxBatch)))
		}
		return nil
	}
	if len(js) > 1 && ctx.Err() == nil {
		for _, j := range js {
			if kind == "score" {
				b.runScore([]*job{j})
			} else {
				b.runNext([]*job{j})
			}
		}
		return err
	}
	for _, j := range js {
		if jerr := j.ctx.Err(); jerr != nil {
			j.finish(jerr)
		} else {
			j.finish(err)
		}
	}
	return err
}

// safely runs f, turning a panic into an error (and a log line with the
// stack) and giving the batcher a fresh session.
func (b *batcher) safely(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			b.s.log.Error("panic in a batch", "model", b.sv.name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			b.sess = b.sv.m.NewSession()
			err = errors.New("panic while running the batch")
		}
	}()
	return f()
}

// jointContext returns a context that ends when every request of js has
// ended (its client went away or its deadline passed).
func jointContext(js []*job) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	var left atomic.Int64
	left.Store(int64(len(js)))
	stops := make([]func() bool, len(js))
	for i, j := range js {
		stops[i] = context.AfterFunc(j.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}
