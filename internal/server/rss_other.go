//go:build !unix

package server

// peakRSS returns 0: this system's rusage has no peak resident set size.
func peakRSS() int64 { return 0 }
