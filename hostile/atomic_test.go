package hostile

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lstmq/lstmq/checkpoint"
	"github.com/lstmq/lstmq/model"
)

// bigModel writes a corpus of v-1 distinct words and a float32 checkpoint
// of its v tokens, big enough (ninp = nhid = 128, about 20 MB) that writing
// its quantized file takes a while.
func bigModel(t *testing.T, v int) (pth, dir string) {
	t.Helper()
	dir = "bigcorpus"
	var train strings.Builder
	for i := range v - 1 {
		fmt.Fprintf(&train, "w%d", i)
		if i%100 == 99 {
			train.WriteByte('\n')
		} else {
			train.WriteByte(' ')
		}
	}
	train.WriteByte('\n')
	put(t, dir+"/train.txt", []byte(train.String()))
	put(t, dir+"/valid.txt", []byte("w0 w1\n"))
	put(t, dir+"/test.txt", []byte("w2 w3\n"))
	const e, h = 128, 128
	fill := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(math.Sin(float64(i))) * 0.1
		}
		return s
	}
	p := &model.Params{NToken: v, NInp: e, NHid: h, Encoder: fill(v * e), DecoderW: fill(v * h), DecoderB: fill(v),
		Layers: []model.LayerParams{{Wih: fill(4 * h * e), Whh: fill(4 * h * h), Bih: fill(4 * h), Bhh: fill(4 * h)}}}
	pth = "big.pth"
	if err := checkpoint.SavePth(filepath.Join(work, pth), p); err != nil {
		t.Fatal(err)
	}
	return pth, dir
}

// killMidWrite starts lstmq quantize --out dir/name and SIGKILLs it as soon
// as it has its temporary file open: an unnamed one, seen in /proc as
// "dir/#inode (deleted)" (Linux with O_TMPFILE), or a new .NAME.tmp* in dir
// (the named fallback, on any system). It reports whether it killed the
// run, and whether the file it saw was a named one; false if the command
// finished before a temporary file was seen.
func killMidWrite(t *testing.T, pth, data, dir, name, scheme string) (killed, named bool) {
	t.Helper()
	abs := filepath.Join(work, dir)
	pattern := filepath.Join(abs, "."+name+".tmp*")
	before, _ := filepath.Glob(pattern) // a killed run's, which this one may remove
	cmd := exec.Command(bin, "quantize", "--model", pth, "--data", data, "--out", filepath.Join(dir, name), "--scheme", scheme)
	cmd.Dir = work
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	kill := func() {
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return false, false
		default:
		}
		tmps, _ := filepath.Glob(pattern)
		for _, tmp := range tmps {
			if !slices.Contains(before, tmp) {
				kill()
				return true, true
			}
		}
		if runtime.GOOS == "linux" {
			fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", cmd.Process.Pid))
			for _, fd := range fds {
				if l, _ := os.Readlink(fd); strings.HasPrefix(l, filepath.Join(abs, "#")) {
					kill()
					return true, false
				}
			}
		}
		time.Sleep(100 * time.Microsecond)
	}
	cmd.Process.Kill()
	<-done
	t.Fatal("quantize neither finished nor wrote a temporary file in 30 s")
	return false, false
}

// TestKilledQuantize kills lstmq quantize while it writes its output: the
// output must then be absent (first write) or the previous version, byte
// for byte. With O_TMPFILE (Linux) the temporary file has no name until it
// is complete, and nothing else may be left in the folder. With a named
// temporary file (LSTMQ_ATOMICFILE=named, other systems), a killed run may
// leave its .NAME.tmp* file, which the next run writing NAME removes: after
// one, nothing else is left in the folder either.
func TestKilledQuantize(t *testing.T) {
	pth, data := bigModel(t, 10001)
	os.MkdirAll(filepath.Join(work, "atomic"), 0o755)
	named := false // a kill saw a named temporary file
	// Before any version exists.
	killed := false
	for try := 0; try < 5 && !killed; try++ {
		os.Remove(filepath.Join(work, "atomic", "first.safetensors"))
		var n bool
		killed, n = killMidWrite(t, pth, data, "atomic", "first.safetensors", "pytorch")
		named = named || n
	}
	if !killed {
		t.Fatal("quantize always finished before its temporary file was seen")
	}
	if _, err := os.Stat(filepath.Join(work, "atomic", "first.safetensors")); !os.IsNotExist(err) {
		t.Errorf("killed first write left the output: %v", err)
	}
	// Over a previous version.
	out := filepath.Join("atomic", "m.safetensors")
	wantOK(t, lstmq(t, "quantize", "--model", pth, "--data", data, "--out", out))
	prev := read(t, out)
	for try := 0; try < 3; try++ {
		start := time.Now()
		k, n := killMidWrite(t, pth, data, "atomic", "m.safetensors", "channel")
		named = named || n
		t.Logf("try %d: killed %v (named temporary file %v) after %v", try, k, n, time.Since(start))
		if k {
			if now := read(t, out); !bytes.Equal(now, prev) {
				t.Fatalf("killed write changed %s (%d bytes, was %d)", out, len(now), len(prev))
			}
		}
	}
	// The previous version still loads.
	wantOK(t, lstmq(t, "inspect", "--model", out))
	left := func() []string {
		ents, _ := os.ReadDir(filepath.Join(work, "atomic"))
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}
	if !named {
		if names := left(); len(names) != 1 {
			t.Errorf("folder after the kills holds %q, want only m.safetensors", names)
		}
		return
	}
	for _, n := range left() {
		if n != "m.safetensors" && !strings.HasPrefix(n, ".first.safetensors.tmp") && !strings.HasPrefix(n, ".m.safetensors.tmp") {
			t.Errorf("folder after the kills holds %s", n)
		}
	}
	// Later runs writing the same files (a small model: quick) remove
	// what the killed ones left.
	wantOK(t, lstmq(t, "quantize", "--model", "deep.pth", "--data", "corpus", "--out", filepath.Join("atomic", "first.safetensors")))
	wantOK(t, lstmq(t, "quantize", "--model", "deep.pth", "--data", "corpus", "--out", out))
	if names := left(); !slices.Equal(names, []string{"first.safetensors", "m.safetensors"}) {
		t.Errorf("folder after later runs holds %q, want only first.safetensors and m.safetensors", names)
	}
}
