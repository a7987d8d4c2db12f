package parallel

import (
	"runtime"
	"sync"
)

// A Pool runs the ranges of For on Threads() goroutines: the caller's and
// Threads()−1 persistent workers. It is safe for concurrent use; concurrent
// calls share the workers. A nil *Pool runs everything on the caller's
// goroutine.
type Pool struct {
	n int
	w *workers // nil for one thread
}

// A Task is the body of a loop over index ranges. Kernels pass a pointer
// to a reused struct, so that a parallel call allocates nothing (a closure
// handed to another goroutine always escapes to the heap).
type Task interface{ Run(lo, hi int) }

// funcTask runs a function as a Task.
type funcTask func(lo, hi int)

func (f funcTask) Run(lo, hi int) { f(lo, hi) }

type job struct {
	task   Task
	lo, hi int
	wg     *sync.WaitGroup
}

type workers struct{ jobs chan job }

// NewPool returns a pool of n threads; n < 1 means runtime.GOMAXPROCS(0).
// Its workers stop when the pool is garbage collected.
func NewPool(n int) *Pool {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	p := &Pool{n: n}
	if n > 1 {
		w := &workers{jobs: make(chan job, 4*n)}
		for range n - 1 {
			go w.run()
		}
		p.w = w
		runtime.AddCleanup(p, func(w *workers) { close(w.jobs) }, w)
	}
	return p
}

func (w *workers) run() {
	for j := range w.jobs {
		j.task.Run(j.lo, j.hi)
		j.wg.Done()
	}
}

// Threads reports how many goroutines For uses (1 for a nil pool).
func (p *Pool) Threads() int {
	if p == nil {
		return 1
	}
	return p.n
}

var wgs = sync.Pool{New: func() any { return new(sync.WaitGroup) }}

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
	per := (blocks + t - 1) / t * grain
	wg := wgs.Get().(*sync.WaitGroup)
	for lo := per; lo < n; lo += per {
		wg.Add(1)
		p.w.jobs <- job{task: task, lo: lo, hi: min(lo+per, n), wg: wg}
	}
	task.Run(0, min(per, n))
	wg.Wait()
	wgs.Put(wg)
}
