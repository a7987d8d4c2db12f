package atomicfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWriteFileNew(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.txt")
	err := WriteFile(path, 0o640, func(w io.Writer) error {
		_, err := io.WriteString(w, "hello\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "hello\n" {
		t.Fatalf("contents = %q, want %q", got, "hello\n")
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o640 {
		t.Errorf("mode = %v, want 0640", st.Mode().Perm())
	}
	assertOnly(t, dir, "out.txt")
}

func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.txt")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<14) // 256 KiB, more than the buffer
	err := WriteFile(path, 0o644, func(w io.Writer) error {
		_, err := w.Write(big)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, big) {
		t.Fatalf("contents: got %d bytes, want %d", len(got), len(big))
	}
	assertOnly(t, dir, "out.txt")
}

func TestWriteFileFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.txt")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := WriteFile(path, 0o644, func(w io.Writer) error {
		// Write past the buffer so part of the data reaches the temp file.
		w.Write(bytes.Repeat([]byte("x"), 200_000))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want it to wrap %v", err, boom)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
	got, _ := os.ReadFile(path)
	if string(got) != "old" {
		t.Fatalf("contents = %q, want old contents", got)
	}
	assertOnly(t, dir, "out.txt")
}

func TestWriteFileFailureNoTarget(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.txt")
	err := WriteFile(path, 0o644, func(w io.Writer) error { return errors.New("boom") })
	if err == nil {
		t.Fatal("no error")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("target exists after failed write: %v", err)
	}
	assertOnly(t, dir)
}

func TestWriteFileMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "out.txt")
	err := WriteFile(path, 0o644, func(w io.Writer) error { return nil })
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want an error naming %s", err, path)
	}
}

func TestCreateCommitAbort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "z.bin")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}

	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(f, "aborted")
	if f.unnamed {
		assertOnly(t, dir, "z.bin") // nothing to see while it is written
	}
	f.Abort()
	f.Abort() // idempotent
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Fatalf("after Abort: %q, want old", got)
	}
	if _, err := f.Write([]byte("x")); err == nil {
		t.Error("Write after Abort succeeded")
	}
	if err := f.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	assertOnly(t, dir, "z.bin")

	f, err = Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort() // no-op after Commit
	fmt.Fprint(f, "new")
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Fatalf("before Commit: %q, want old", got)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort()
	if got, _ := os.ReadFile(path); string(got) != "new" {
		t.Fatalf("after Commit: %q, want new", got)
	}
	if err := f.Commit(); err == nil {
		t.Error("second Commit succeeded")
	}
	assertOnly(t, dir, "z.bin")
}

// assertOnly checks that dir holds exactly the named files.
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("directory holds %q, want %q", got, names)
	}
}

// helperEnv makes the test binary a slow writer, laterEnv a quick one (a
// later run); NamedEnv=named makes it (and the tests) use named temporary
// files only.
const (
	helperEnv = "ATOMICFILE_TEST_SLOW_WRITER"
	laterEnv  = "ATOMICFILE_TEST_LATER_WRITER"
)

// envNamed is whether NamedEnv forces the fallback for the whole run.
var envNamed = forceNamed

// TestMain turns the test binary into a slow writer when helperEnv is set:
// it atomically writes a large file to the path in helperEnv, printing
// "writing" once data has reached the temporary file, and takes seconds, far
// longer than the parent waits before killing it. With laterEnv it writes
// "later\n" to the path in it and exits.
func TestMain(m *testing.M) {
	if path := os.Getenv(helperEnv); path != "" {
		slowWriter(path)
		os.Exit(3) // unreachable unless the parent failed to kill us
	}
	if path := os.Getenv(laterEnv); path != "" {
		if err := WriteFile(path, 0o644, func(w io.Writer) error {
			_, err := io.WriteString(w, "later\n")
			return err
		}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func slowWriter(path string) {
	chunk := bytes.Repeat([]byte("new data "), 1<<13) // 72 KiB, more than the buffer
	err := WriteFile(path, 0o644, func(w io.Writer) error {
		for i := 0; i < 600; i++ { // ≈6 s and 43 MB at most, should the parent die
			if _, err := w.Write(chunk); err != nil {
				return err
			}
			if i == 4 {
				fmt.Println("writing")
			}
			time.Sleep(10 * time.Millisecond)
		}
		return nil
	})
	fmt.Fprintln(os.Stderr, "slow writer finished:", err)
}

// canUnnamed reports whether atomic writes in dir use an unnamed
// (O_TMPFILE) temporary file.
func canUnnamed(dir string) bool {
	if forceNamed {
		return false
	}
	f, err := createUnnamed(dir)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// helperCmd returns the test binary run with env (and NamedEnv=named when
// the tests use named temporary files).
func helperCmd(t *testing.T, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Skip("cannot find test binary:", err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, NamedEnv+"=") })
	cmd.Env = append(cmd.Env, env...)
	if forceNamed {
		cmd.Env = append(cmd.Env, NamedEnv+"=named")
	}
	return cmd
}

// TestKilledMidWrite SIGKILLs a process in the middle of an atomic write:
// the target must be absent or the old file, and nothing else may be left
// in the folder except, without O_TMPFILE, the named temporary file, which
// the next run writing the same file removes (where the system has the
// lock atomicfile takes: flock(2) on Linux, macOS and the BSDs, an open
// handle on Windows). Then nothing is left at all.
func TestKilledMidWrite(t *testing.T) {
	defer func() { forceNamed = envNamed }()
	for _, named := range []bool{false, true} {
		forceNamed = named || envNamed
		t.Run(fmt.Sprintf("named=%v", named), testKilledMidWrite)
	}
}

func testKilledMidWrite(t *testing.T) {
	for _, old := range []string{"", "old contents\n"} {
		name := "absent"
		if old != "" {
			name = "present"
		}
		t.Run("target="+name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "big.txt")
			unnamed := canUnnamed(dir)
			if old != "" {
				if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cmd := helperCmd(t, helperEnv+"="+path)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err != nil || line != "writing\n" {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("helper said %q (%v), stderr: %s", line, err, stderr.String())
			}
			// The helper has flushed several chunks to its temporary file.
			tmps, _ := filepath.Glob(filepath.Join(dir, ".big.txt.tmp*"))
			if unnamed {
				if len(tmps) != 0 {
					t.Errorf("temporary files while writing: %q, want none (O_TMPFILE)", tmps)
				}
				// The unnamed file shows in /proc as "dir/#inode (deleted)".
				tmps, _ = filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", cmd.Process.Pid))
				tmps = slices.DeleteFunc(tmps, func(fd string) bool {
					l, _ := os.Readlink(fd)
					return !strings.HasPrefix(l, filepath.Join(dir, "#"))
				})
			}
			if len(tmps) != 1 {
				t.Errorf("temporary files while writing: %q, want one", tmps)
			} else if st, err := os.Stat(tmps[0]); err != nil || st.Size() == 0 {
				t.Errorf("temporary file %s is empty or missing (%v)", tmps[0], err)
			}
			if err := cmd.Process.Kill(); err != nil { // SIGKILL on Unix
				t.Fatal(err)
			}
			cmd.Wait()

			got, err := os.ReadFile(path)
			switch {
			case old == "" && !os.IsNotExist(err):
				t.Errorf("target exists after kill (err %v, %d bytes)", err, len(got))
			case old != "" && string(got) != old:
				t.Errorf("target = %d bytes %.20q..., want the old contents", len(got), got)
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if e.Name() == "big.txt" && old != "" {
					continue
				}
				if unnamed || !strings.HasPrefix(e.Name(), ".big.txt.tmp") {
					t.Errorf("unexpected file %s left after kill", e.Name())
				}
			}

			// A later run writing the same file leaves only it.
			if out, err := helperCmd(t, laterEnv+"="+path).CombinedOutput(); err != nil {
				t.Fatalf("later run: %v: %s", err, out)
			}
			if got, _ := os.ReadFile(path); string(got) != "later\n" {
				t.Errorf("after the later run: %q", got)
			}
			if removesStale {
				assertOnly(t, dir, "big.txt")
			}
		})
	}
}

// TestCleanDebris checks what a run removes before it writes NAME: the
// .NAME.tmp* files no writer holds and last modified before it started;
// not a live writer's, not one modified since it started (which may be a
// writer's not yet locked), not another file's.
func TestCleanDebris(t *testing.T) {
	if !removesStale {
		t.Skip("no lock to tell a killed writer's temporary file from a live one's on " + runtime.GOOS)
	}
	defer func(s time.Time) { started = s }(started)
	defer func() { forceNamed = envNamed }()
	forceNamed = true
	dir := t.TempDir()
	path := filepath.Join(dir, "m.bin")
	live, err := Create(path) // a live writer's, locked
	if err != nil {
		t.Fatal(err)
	}
	defer live.Abort()
	liveName := filepath.Base(live.f.Name())
	old := time.Now().Add(-time.Hour)
	for _, name := range []string{".m.bin.tmp1", ".m.bin.tmp2", ".other.bin.tmp1", ".m.bin.tmp3"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if name != ".m.bin.tmp3" { // tmp3: modified after this "run" started
			os.Chtimes(filepath.Join(dir, name), old, old)
		}
	}
	os.Chtimes(live.f.Name(), old, old)
	started = time.Now().Add(-time.Minute)
	cleanDebris(dir, "m.bin")
	want := []string{".m.bin.tmp3", liveName, ".other.bin.tmp1"}
	slices.Sort(want)
	assertOnly(t, dir, want...)
	fmt.Fprint(live, "live")
	if err := live.Commit(); err != nil {
		t.Fatalf("the live writer's Commit: %v", err)
	}
}
