//go:build !linux && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd

package progress

// isTerminal reports false: on this system output is always treated as a
// plain file.
func isTerminal(fd uintptr) bool { return false }

// termWidth returns 0: the width is unknown.
func termWidth(fd uintptr) int { return 0 }
