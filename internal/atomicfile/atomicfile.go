package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// File is a file being written atomically: bytes written to it go to a
// temporary file, and only Commit makes them visible at the target path.
// Call Abort (safe after Commit, so it can be deferred) to drop the write.
// A File is not safe for concurrent use.
type File struct {
	path    string
	perm    os.FileMode
	f       *os.File
	w       *bufio.Writer
	unnamed bool // f has no name yet (O_TMPFILE)
	done    bool
}

// NamedEnv is the environment variable that, set to "named", makes every
// temporary file a named one, as where O_TMPFILE is missing: for running
// any test (go test ./..., the lstmq binary the hostile suite starts) on
// the fallback.
const NamedEnv = "LSTMQ_ATOMICFILE"

// forceNamed makes every temporary file a named one (NamedEnv, or tests).
var forceNamed = os.Getenv(NamedEnv) == "named"

// started is when this process started (near enough: when the package was
// initialised). A named temporary file last modified before it is from an
// earlier run (see cleanDebris).
var started = time.Now()

// Create starts an atomic write of path with permission 0o644 (see CreatePerm).
func Create(path string) (*File, error) { return CreatePerm(path, 0o644) }

// CreatePerm starts an atomic write of path; the file gets mode perm exactly
// (the umask is not applied) when it is committed.
func CreatePerm(path string, perm os.FileMode) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	cleanDebris(dir, base)
	if !forceNamed {
		// Locked too: linkUnnamed names it for a moment before Commit
		// renames it.
		if f, err := createUnnamed(dir); err == nil && lockTemp(f) == nil {
			return &File{path: path, perm: perm, f: f, w: bufio.NewWriterSize(f, 1<<16), unnamed: true}, nil
		} else if err == nil {
			f.Close()
		}
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	if err := lockTemp(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("create %s: lock %s: %w", path, f.Name(), err)
	}
	return &File{path: path, perm: perm, f: f, w: bufio.NewWriterSize(f, 1<<16)}, nil
}

// cleanDebris removes what killed runs left of their writes of base in
// dir: named temporary files "."+base+".tmp*" last modified before this
// process started and whose writer is gone, which lockTemp's lock tells
// (staleTemp). A live writer holds its lock (or, on Windows, its file
// open, which Windows then refuses to delete); a file modified since this
// process started may be one another run has just created and not yet
// locked. Errors are ignored: what cannot be removed is left as it was.
func cleanDebris(dir, base string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := "." + base + ".tmp"
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), prefix) || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(started) {
			continue
		}
		removeStale(filepath.Join(dir, e.Name()))
	}
}

// Write writes p to the temporary file through a buffer.
func (f *File) Write(p []byte) (int, error) {
	if f.done {
		return 0, fmt.Errorf("write %s: %w", f.path, os.ErrClosed)
	}
	return f.w.Write(p)
}

// Name returns the target path.
func (f *File) Name() string { return f.path }

// Commit flushes, fsyncs and closes the temporary file and renames it over the
// target path. If anything fails, the temporary file is removed, the target is
// left as it was, and the error is returned. Commit may be called only once.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("commit %s: %w", f.path, os.ErrClosed)
	}
	f.done = true
	tmp := ""
	if !f.unnamed {
		tmp = f.f.Name()
	}
	err := f.w.Flush()
	if err == nil {
		err = f.f.Chmod(f.perm)
	}
	if err == nil {
		err = f.f.Sync()
	}
	if err == nil && f.unnamed {
		tmp, err = linkUnnamed(f.f, f.path)
	}
	renamed := false
	if err == nil && renameOpen {
		// Renamed while still open, so still locked: a later run's
		// cleanDebris never sees a complete temporary file unlocked.
		err = os.Rename(tmp, f.path)
		renamed = err == nil
	}
	// After a successful Sync and rename, a close error loses nothing.
	if cerr := f.f.Close(); err == nil && !renamed {
		err = cerr
	}
	if err == nil && !renamed {
		err = os.Rename(tmp, f.path)
	}
	if err != nil {
		if tmp != "" && !renamed {
			os.Remove(tmp)
		}
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	syncDir(filepath.Dir(f.path))
	return nil
}

// Abort closes and removes the temporary file, leaving the target path as it
// was. It does nothing after Commit or a previous Abort.
func (f *File) Abort() {
	if f == nil || f.done {
		return
	}
	f.done = true
	f.f.Close()
	if !f.unnamed {
		os.Remove(f.f.Name())
	}
}

// WriteFile atomically replaces path with the bytes that write produces,
// giving it mode perm (exactly; the umask is not applied). The writer passed
// to write is buffered. If write, or anything after it, fails, the temporary
// file is removed, a previous file at path is left intact, and the error is
// returned, wrapped with the path.
func WriteFile(path string, perm os.FileMode, write func(w io.Writer) error) error {
	f, err := CreatePerm(path, perm)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Abort()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Commit()
}

// syncDir fsyncs a directory so a rename in it is durable. Errors are ignored:
// some file systems do not support syncing directories, and the rename has
// already happened.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}
