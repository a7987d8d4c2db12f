package q8

import (
	"sync"
	"time"
)

var (
	peakOnce sync.Once
	peakVal  float64
)

// PeakGOPS estimates this core's int8 multiply-add peak at the active level,
// in GOP/s (one multiply-add = 2 ops), for roofline reports. It is measured
// once, single-threaded, on first call (≈ 10 ms): the active kernel's inner
// step run on registers only (no loads, all accumulators independent), best
// of 5 runs. Assumptions: the instruction mix of the real inner loop (one
// broadcast and the weight loads per step aside) is the bound, clocks stay
// at the level they reach during the measurement, and the core is not
// shared. For the generic kernel it is the speed of the reference loop on a
// small L1-resident product.
func PeakGOPS() float64 {
	peakOnce.Do(func() { peakVal = measurePeak(impl) })
	return peakVal
}

func measurePeak(k *kernel) float64 {
	best := time.Duration(1 << 62)
	if k.asm == 0 {
		const m, n, kk = 4, 64, 256
		a, acc := make([]uint8, m*kk), make([]int32, m*n)
		p := Pack(make([]int8, n*kk), n, kk, []float32{1})
		for range 5 {
			t := time.Now()
			for range 10 {
				p.mulGeneric(acc, a, m, 0, n)
			}
			best = min(best, time.Since(t))
		}
		return 2 * float64(10*m*n*kk) / best.Seconds() / 1e9
	}
	const iters = 1 << 14
	k.peak(iters) // warm up the clocks and the vector unit
	for range 5 {
		t := time.Now()
		k.peak(iters)
		best = min(best, time.Since(t))
	}
	return 2 * float64(iters*k.rows*k.cols*4) / best.Seconds() / 1e9
}
