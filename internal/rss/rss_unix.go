//go:build unix

package rss

import (
	"os"
	"runtime"
	"syscall"
)

// Peak returns the peak resident set size in bytes of a finished
// process, or 0 if the system does not say.
func Peak(ps *os.ProcessState) int64 {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	return bytes(ru)
}

// Self returns this process's peak resident set size in bytes so far, or 0.
func Self() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return bytes(&ru)
}

// bytes returns ru's peak resident set size in bytes.
func bytes(ru *syscall.Rusage) int64 {
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return int64(ru.Maxrss) // bytes
	}
	return int64(ru.Maxrss) * 1024 // kilobytes
}
