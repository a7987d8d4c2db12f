package hostile

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
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
// "dir/#inode (deleted)", or .NAME.tmp* in dir where O_TMPFILE is missing.
// It reports false if the command finished before that was seen.
func killMidWrite(t *testing.T, pth, data, dir, name, scheme string) bool {
	t.Helper()
	cmd := exec.Command(bin, "quantize", "--model", pth, "--data", data, "--out", filepath.Join(dir, name), "--scheme", scheme)
	cmd.Dir = work
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(work, dir)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return false
		default:
		}
		fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", cmd.Process.Pid))
		for _, fd := range fds {
			l, _ := os.Readlink(fd)
			if strings.HasPrefix(l, filepath.Join(abs, "#")) || strings.HasPrefix(l, filepath.Join(abs, "."+name+".tmp")) {
				cmd.Process.Signal(syscall.SIGKILL)
				<-done
				return true
			}
		}
		time.Sleep(100 * time.Microsecond)
	}
	cmd.Process.Kill()
	<-done
	t.Fatal("quantize neither finished nor wrote a temporary file in 30 s")
	return false
}

// TestKilledQuantize kills lstmq quantize while it writes its output: the
// output must then be absent (first write) or the previous version, byte
// for byte, and nothing else may be left in the folder (the temporary file
// is opened with O_TMPFILE and has no name until it is complete).
func TestKilledQuantize(t *testing.T) {
	pth, data := bigModel(t, 10001)
	os.MkdirAll(filepath.Join(work, "atomic"), 0o755)
	// Before any version exists.
	killed := false
	for try := 0; try < 5 && !killed; try++ {
		os.Remove(filepath.Join(work, "atomic", "first.safetensors"))
		killed = killMidWrite(t, pth, data, "atomic", "first.safetensors", "pytorch")
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
		k := killMidWrite(t, pth, data, "atomic", "m.safetensors", "channel")
		t.Logf("try %d: killed %v after %v", try, k, time.Since(start))
		if k {
			if now := read(t, out); !bytes.Equal(now, prev) {
				t.Fatalf("killed write changed %s (%d bytes, was %d)", out, len(now), len(prev))
			}
		}
	}
	ents, _ := os.ReadDir(filepath.Join(work, "atomic"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 1 {
		t.Errorf("folder after the kills holds %q, want only m.safetensors", names)
	}
	// The previous version still loads.
	wantOK(t, lstmq(t, "inspect", "--model", out))
}
