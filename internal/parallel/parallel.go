// Package parallel runs loops over index ranges on a fixed number of goroutines.
//
// Kernels split their output rows into contiguous ranges, one per worker, so a
// result never depends on how many workers computed it.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

var threads atomic.Int32

func init() { threads.Store(int32(runtime.NumCPU())) }

// SetThreads sets how many goroutines For uses; n < 1 means all CPUs.
func SetThreads(n int) {
	if n < 1 {
		n = runtime.NumCPU()
	}
	threads.Store(int32(n))
}

// Threads reports how many goroutines For uses.
func Threads() int { return int(threads.Load()) }

// For calls fn(lo, hi) over [0, n) split into at most Threads() ranges whose
// bounds are multiples of grain (except the last), and waits for all of them.
// With one thread, or when n ≤ grain, fn runs on the caller's goroutine.
func For(n, grain int, fn func(lo, hi int)) {
	t := Threads()
	if grain < 1 {
		grain = 1
	}
	blocks := (n + grain - 1) / grain
	if t > blocks {
		t = blocks
	}
	if t <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	per := (blocks + t - 1) / t * grain
	var wg sync.WaitGroup
	for lo := per; lo < n; lo += per {
		hi := min(lo+per, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	fn(0, min(per, n))
	wg.Wait()
}
