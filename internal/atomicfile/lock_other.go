//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd || windows)

package atomicfile

import "os"

// removesStale: removeStale cannot tell a killed writer's temporary file from a live one's.
const removesStale = false

// renameOpen: whether a file may be renamed while open.
const renameOpen = false

// lockTemp does nothing: this system has no lock that atomicfile uses, so
// removeStale cannot tell a killed run's temporary file from a live one.
func lockTemp(f *os.File) error { return nil }

// removeStale leaves the file: it may be a live writer's.
func removeStale(path string) {}
