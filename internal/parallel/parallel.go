package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// A Pool runs the ranges of For on Threads() goroutines: the caller's and
// Threads()−1 persistent workers. It is safe for concurrent use: one call at
// a time has the workers, and a call that finds them busy runs alone, as on
// one thread. A nil *Pool runs everything on the caller's goroutine.
type Pool struct {
	n  int
	mu sync.Mutex // held by the call that has the workers
	ws []*worker  // Threads()−1 of them
}

// A Task is the body of a loop over index ranges. Kernels pass a pointer
// to a reused struct, so that a parallel call allocates nothing (a closure
// handed to another goroutine always escapes to the heap).
type Task interface{ Run(lo, hi int) }

// funcTask runs a function as a Task.
type funcTask func(lo, hi int)

func (f funcTask) Run(lo, hi int) { f(lo, hi) }

// spin is how long a worker polls for its next range, and a caller for a
// worker's end, before it parks on a channel. A batch-1 step hands out a
// range every few microseconds; waking a parked goroutine costs a futex
// call and, on a virtual machine, the wake-up of an idle virtual CPU:
// tens of microseconds each way, which made the second core slower than
// none with a channel per range. So both sides poll first, as OpenMP
// runtimes do, for longer than a step's gaps (the sampler's softmax is the
// longest at batch 1).
const spin = 300 * time.Microsecond

// polled calls done until it reports true or spin has passed, and reports
// whether it did. It polls not at all when the process has one processor:
// the goroutine it waits for would need the very processor it holds.
func polled(done func() bool) bool {
	if runtime.GOMAXPROCS(0) < 2 {
		return false
	}
	start := time.Now()
	for i := 1; ; i++ {
		if done() {
			return true
		}
		if i%128 == 0 {
			// Let the process's other goroutines have this processor
			// (eval's recurrent stage runs beside the pool): the
			// goroutine polled for may be one of them.
			runtime.Gosched()
			if time.Since(start) > spin {
				return false
			}
		}
	}
}

// A worker is one persistent goroutine and its mailbox. The caller writes
// task, lo and hi, then increments posted; the worker runs the range and
// increments done. Each side parks only after announcing it (parked,
// waiting), and the other side checks the announcement after publishing,
// so that no wake-up is lost. Both the announcement and the publication are
// read-modify-writes (Swap, Add), not plain stores: the pattern needs each
// store ordered before the load that follows it, which Go's atomics
// promise, but qemu's arm64-on-x86 translation of a plain atomic store
// did not keep (a lost wake-up hung the emulated tests).
type worker struct {
	posted atomic.Uint64
	parked atomic.Bool
	wake   chan struct{} // capacity 1; closed when the pool is collected

	task   Task
	lo, hi int

	_       [64]byte // done and posted on different cache lines
	done    atomic.Uint64
	waiting atomic.Bool
	ended   chan struct{} // capacity 1
}

// NewPool returns a pool of n threads; n < 1 means runtime.GOMAXPROCS(0).
// Its workers stop when the pool is garbage collected.
func NewPool(n int) *Pool {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	p := &Pool{n: n}
	for range n - 1 {
		w := &worker{wake: make(chan struct{}, 1), ended: make(chan struct{}, 1)}
		p.ws = append(p.ws, w)
		go w.run()
	}
	if len(p.ws) > 0 {
		runtime.AddCleanup(p, func(ws []*worker) {
			for _, w := range ws {
				close(w.wake)
			}
		}, p.ws)
	}
	return p
}

func (w *worker) run() {
	for seen := uint64(0); ; seen++ {
		if !w.await(seen) {
			return
		}
		w.task.Run(w.lo, w.hi)
		w.done.Add(1) // to seen+1; a read-modify-write, see below
		if w.waiting.Load() {
			select {
			case w.ended <- struct{}{}:
			default: // a token is already there
			}
		}
	}
}

// await returns once a range after the seen-th is posted, or false when the
// pool is gone.
func (w *worker) await(seen uint64) bool {
	if polled(func() bool { return w.posted.Load() != seen }) {
		return true
	}
	for {
		w.parked.Swap(true) // see below
		if w.posted.Load() != seen {
			w.parked.Store(false)
			return true
		}
		_, ok := <-w.wake
		w.parked.Store(false)
		if !ok {
			return false
		}
		if w.posted.Load() != seen {
			return true
		}
	}
}

// post hands the worker task.Run(lo, hi).
func (w *worker) post(task Task, lo, hi int) {
	w.task, w.lo, w.hi = task, lo, hi
	w.posted.Add(1)
	if w.parked.Load() {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// wait returns once the worker has finished its last posted range.
func (w *worker) wait() {
	want := w.posted.Load()
	if polled(func() bool { return w.done.Load() == want }) {
		w.task = nil
		return
	}
	w.waiting.Swap(true)
	for w.done.Load() != want {
		<-w.ended
	}
	w.waiting.Store(false)
	w.task = nil
}

// Threads reports how many goroutines For uses (1 for a nil pool).
func (p *Pool) Threads() int {
	if p == nil {
		return 1
	}
	return p.n
}

// For calls fn(lo, hi) over [0, n) split into at most Threads() ranges whose
// bounds are multiples of grain (except the last), and waits for all of them.
// With one thread, or when n ≤ grain, fn runs on the caller's goroutine.
func (p *Pool) For(n, grain int, fn func(lo, hi int)) { p.Run(n, grain, funcTask(fn)) }

// Run is For with a Task: task.Run(lo, hi) over the ranges.
func (p *Pool) Run(n, grain int, task Task) {
	t := p.Threads()
	if grain < 1 {
		grain = 1
	}
	blocks := (n + grain - 1) / grain
	t = min(t, blocks)
	if t <= 1 {
		if n > 0 {
			task.Run(0, n)
		}
		return
	}
	if !p.mu.TryLock() {
		// Another call (another session of the model, or a task of this
		// pool calling it again) has the workers: run alone, as on one
		// thread.
		task.Run(0, n)
		return
	}
	defer p.mu.Unlock()
	// One range a thread, the caller's first: a thread streams its weights
	// in one pass (smaller ranges taken on demand measured 13% slower on
	// the decoder at batch 1).
	per := (blocks + t - 1) / t * grain
	k := 0
	for lo := per; lo < n; lo += per {
		p.ws[k].post(task, lo, min(lo+per, n))
		k++
	}
	task.Run(0, min(per, n))
	for _, w := range p.ws[:k] {
		w.wait()
	}
}
