//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package atomicfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// removesStale: removeStale can tell a killed writer's temporary file (unlocked) from a live one's.
const removesStale = true

// renameOpen: whether a file may be renamed while open.
const renameOpen = true

// lockTemp takes an exclusive flock(2) on the named temporary file f. The
// kernel releases it when the process ends, however it ends.
func lockTemp(f *os.File) error {
	return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
}

// removeStale removes the temporary file at path if no process holds its
// lock: its writer is gone. It keeps the lock while it removes the file.
func removeStale(path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		return // a live writer's
	}
	os.Remove(path)
}
