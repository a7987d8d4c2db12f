//go:build !purego

package f32

import "time"

// measureGHz times addChain (8 cycles per iteration) and keeps the fastest
// of a few runs, so a descheduled run does not count.
func measureGHz() float64 {
	const n = 200_000 // 1.6M cycles, about 0.5 ms
	best := time.Duration(1 << 62)
	for range 20 {
		t := time.Now()
		addChain(n)
		best = min(best, time.Since(t))
	}
	if best <= 0 {
		return 0
	}
	return 8 * n / best.Seconds() / 1e9
}
