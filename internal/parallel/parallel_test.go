package parallel

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestForCoversOnce checks that every index is visited exactly once, in
// ranges whose bounds are multiples of grain, for several thread counts.
func TestForCoversOnce(t *testing.T) {
	for _, th := range []int{1, 2, 3, 8} {
		p := NewPool(th)
		for _, n := range []int{0, 1, 5, 63, 64, 65, 1000} {
			for _, grain := range []int{0, 1, 7, 64} {
				seen := make([]int, n)
				var mu sync.Mutex
				calls := 0
				p.For(n, grain, func(lo, hi int) {
					mu.Lock()
					defer mu.Unlock()
					calls++
					if g := max(grain, 1); lo%g != 0 {
						t.Errorf("threads %d n %d grain %d: range starts at %d", th, n, grain, lo)
					}
					for i := lo; i < hi; i++ {
						seen[i]++
					}
				})
				for i, c := range seen {
					if c != 1 {
						t.Fatalf("threads %d n %d grain %d: index %d visited %d times", th, n, grain, i, c)
					}
				}
				if g := max(grain, 1); calls > th || n <= g && calls > 1 {
					t.Errorf("threads %d n %d grain %d: %d ranges", th, n, grain, calls)
				}
			}
		}
	}
}

func TestThreads(t *testing.T) {
	var nilPool *Pool
	if nilPool.Threads() != 1 {
		t.Errorf("nil pool: Threads() = %d, want 1", nilPool.Threads())
	}
	if got := NewPool(3).Threads(); got != 3 {
		t.Errorf("NewPool(3).Threads() = %d, want 3", got)
	}
	if got, want := NewPool(0).Threads(), runtime.GOMAXPROCS(0); got != want {
		t.Errorf("NewPool(0).Threads() = %d, want GOMAXPROCS %d", got, want)
	}
}

// TestConcurrentFor runs For from several goroutines on one pool at once.
func TestConcurrentFor(t *testing.T) {
	p := NewPool(3)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sum := make([]int, 100)
			for range 50 {
				p.For(len(sum), 7, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						sum[i] += i + g
					}
				})
			}
			for i, s := range sum {
				if s != 50*(i+g) {
					t.Errorf("goroutine %d: sum[%d] = %d, want %d", g, i, s, 50*(i+g))
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestRunAllocs wants no allocation from a call that uses the workers,
// nor from one that finds them busy and runs alone.
func TestRunAllocs(t *testing.T) {
	p := NewPool(2)
	task := &sumTask{x: make([]int, 1000)}
	if a := testing.AllocsPerRun(100, func() { p.Run(len(task.x), 10, task) }); a != 0 {
		t.Errorf("%v allocations per Run on 2 threads, want 0", a)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if a := testing.AllocsPerRun(100, func() { p.Run(len(task.x), 10, task) }); a != 0 {
		t.Errorf("%v allocations per Run with the workers busy, want 0", a)
	}
	for i, v := range task.x {
		if v != 202 {
			t.Fatalf("x[%d] = %d after 202 calls", i, v)
		}
	}
}

type sumTask struct{ x []int }

func (s *sumTask) Run(lo, hi int) {
	for i := lo; i < hi; i++ {
		s.x[i]++
	}
}

// TestParkedWorkers lets the workers park between calls (longer than they
// poll) and wants every call still to complete.
func TestParkedWorkers(t *testing.T) {
	p := NewPool(3)
	task := &sumTask{x: make([]int, 300)}
	for range 5 {
		time.Sleep(2 * spin)
		p.Run(len(task.x), 1, task)
	}
	for i, v := range task.x {
		if v != 5 {
			t.Fatalf("x[%d] = %d after 5 calls", i, v)
		}
	}
}

// TestOneProcessor runs a 3-thread pool in a process limited to one
// processor: nobody polls, every call still completes.
func TestOneProcessor(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	p := NewPool(3)
	task := &sumTask{x: make([]int, 300)}
	for range 20 {
		p.Run(len(task.x), 1, task)
	}
	for i, v := range task.x {
		if v != 20 {
			t.Fatalf("x[%d] = %d after 20 calls", i, v)
		}
	}
}
