//go:build !unix

package rss

import "os"

// Peak returns 0: this system's rusage has no peak resident set size.
func Peak(ps *os.ProcessState) int64 { return 0 }

// Self returns 0: this system's rusage has no peak resident set size.
func Self() int64 { return 0 }
