package rss

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
)

const helperEnv = "RSS_TEST_TOUCH_MB"

// TestMain makes the test binary touch 64 MB and exit when helperEnv is set.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		b := make([]byte, 64<<20)
		for i := range b {
			b[i] = byte(i)
		}
		runtime.KeepAlive(b)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestPeak checks the peak of a child that touched 64 MB: at least that,
// and not absurdly more (a unit mix-up would be off by 1024).
func TestPeak(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	p := Peak(cmd.ProcessState)
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		if p != 0 {
			t.Errorf("Peak = %d, want 0 where rusage has none", p)
		}
		return
	}
	if p < 64<<20 || p > 1<<30 {
		t.Errorf("Peak = %d bytes, want between 64 MiB and 1 GiB", p)
	}
}

// TestSelf checks that this process's peak is at least what it holds now.
func TestSelf(t *testing.T) {
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = 1
	}
	if got := Self(); runtime.GOOS == "linux" && got < int64(len(buf)) {
		t.Errorf("Self() = %d bytes with %d held", got, len(buf))
	}
	runtime.KeepAlive(buf)
}
