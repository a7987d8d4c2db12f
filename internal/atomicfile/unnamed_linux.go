package atomicfile

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// createUnnamed opens an unnamed file in dir with O_TMPFILE: it has no
// directory entry until linkUnnamed gives it one, so a process killed while
// writing leaves nothing behind. It fails where the file system or kernel
// lacks O_TMPFILE, or /proc (needed to link it) is not mounted; the caller
// then falls back to a named temporary file.
func createUnnamed(dir string) (*os.File, error) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		return nil, err
	}
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), filepath.Join(dir, "(unnamed)")), nil
}

// linkUnnamed gives the unnamed file f a hidden name beside path and
// returns that name, ready to be renamed over path.
func linkUnnamed(f *os.File, path string) (string, error) {
	dir, base := filepath.Split(path)
	src := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	for range 100 {
		tmp := filepath.Join(dir, "."+base+".tmp"+strconv.FormatUint(rand.Uint64()%1e9, 10))
		err := unix.Linkat(unix.AT_FDCWD, src, unix.AT_FDCWD, tmp, unix.AT_SYMLINK_FOLLOW)
		if err == nil {
			return tmp, nil
		}
		if err != unix.EEXIST {
			return "", fmt.Errorf("link %s: %w", tmp, err)
		}
	}
	return "", fmt.Errorf("link %s: no free temporary name", path)
}
