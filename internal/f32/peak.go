package f32

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/lstmq/lstmq/internal/cpu"
)

// assumedGHz is the clock used when it can be neither measured nor read.
const assumedGHz = 3.0

// PeakGFLOPS estimates one core's float32 peak for the active kernels, for
// roofline reports:
//
//	peak = 2 FMA pipes × lanes × 2 flops × GHz
//
// with 16 lanes for AVX-512, 8 for AVX2, 4 for NEON and 1 for the generic code (scalar
// mul + add on two pipes gives the same 4 flops per cycle). Two 512-bit FMA
// pipes is Zen 4/Zen 5 (and Intel server) hardware. GHz is ClockGHz().
func PeakGFLOPS() float64 {
	l := 1.0
	switch {
	case impl == cpu.NEON:
		l = 4
	case impl >= cpu.AVX512:
		l = 16
	case impl == cpu.AVX2:
		l = 8
	}
	return 2 * l * 2 * ClockGHz()
}

var clock = sync.OnceValue(func() float64 {
	if g := measureGHz(); g > 0 {
		return g
	}
	if g := cpuinfoGHz(); g > 0 {
		return g
	}
	return assumedGHz
})

// ClockGHz returns the core clock: on amd64 measured once (about 10 ms) by
// timing a chain of dependent one-cycle adds, which gives the clock the
// core actually runs at (in VMs /proc/cpuinfo shows a nominal one, 2.1 GHz
// on the Zen 5 development machine where the measured clock is higher);
// elsewhere the first "cpu MHz" of /proc/cpuinfo, or 3.0 GHz if neither
// works.
func ClockGHz() float64 { return clock() }

// cpuinfoGHz reads the first "cpu MHz" line of /proc/cpuinfo, or returns 0.
func cpuinfoGHz() float64 {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(key) != "cpu MHz" {
			continue
		}
		mhz, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil || mhz <= 0 {
			return 0
		}
		return mhz / 1000
	}
	return 0
}
