package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
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

// forceNamed makes every temporary file a named one, for tests of the
// fallback.
var forceNamed = false

// Create starts an atomic write of path with permission 0o644 (see CreatePerm).
func Create(path string) (*File, error) { return CreatePerm(path, 0o644) }

// CreatePerm starts an atomic write of path; the file gets mode perm exactly
// (the umask is not applied) when it is committed.
func CreatePerm(path string, perm os.FileMode) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if !forceNamed {
		if f, err := createUnnamed(dir); err == nil {
			return &File{path: path, perm: perm, f: f, w: bufio.NewWriterSize(f, 1<<16), unnamed: true}, nil
		}
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return &File{path: path, perm: perm, f: f, w: bufio.NewWriterSize(f, 1<<16)}, nil
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
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, f.path)
	}
	if err != nil {
		if tmp != "" {
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
