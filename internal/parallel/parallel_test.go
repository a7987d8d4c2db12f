package parallel

import (
	"sync"
	"testing"
)

// TestForCoversOnce checks that every index is visited exactly once, in
// ranges whose bounds are multiples of grain, for several thread counts.
func TestForCoversOnce(t *testing.T) {
	old := Threads()
	defer SetThreads(old)
	for _, th := range []int{1, 2, 3, 8} {
		SetThreads(th)
		for _, n := range []int{0, 1, 5, 63, 64, 65, 1000} {
			for _, grain := range []int{0, 1, 7, 64} {
				seen := make([]int, n)
				var mu sync.Mutex
				calls := 0
				For(n, grain, func(lo, hi int) {
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
				if calls > th {
					t.Errorf("threads %d n %d grain %d: %d ranges", th, n, grain, calls)
				}
			}
		}
	}
}

func TestSetThreads(t *testing.T) {
	old := Threads()
	defer SetThreads(old)
	SetThreads(3)
	if Threads() != 3 {
		t.Errorf("Threads() = %d, want 3", Threads())
	}
	SetThreads(0)
	if Threads() < 1 {
		t.Errorf("SetThreads(0) gave %d threads", Threads())
	}
}
