package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBenchUsage(t *testing.T) {
	base := []string{"bench", "--model", deepPth, "--data", corpusDir, "--anchors", "", "--torch-generate", ""}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--threads", "0"}, "--threads"},
		{[]string{"--batch-size", "0"}, "--batch-size"},
		{[]string{"--threads", "1,0"}, "--threads"},
		{[]string{"--batch-size", "1,16,-1"}, "--batch-size"},
		{[]string{"--max-tokens", "1"}, "--max-tokens"},
		{[]string{"--anchors", filepath.Join(t.TempDir(), "none.sh")}, "none.sh"},
	} {
		code, _, errs := run(t, append(append([]string(nil), base...), c.args...)...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error naming %s", c.args, code, errs, c.want)
		}
	}
}

// TestFindScript finds the default anchors script from any folder of a
// checkout, as `go run ./cmd/lstmq bench` runs from its root.
func TestFindScript(t *testing.T) {
	root := t.TempDir()
	script := filepath.Join(root, defaultAnchors)
	sub := filepath.Join(root, "internal", "cli")
	for _, d := range []string{filepath.Dir(script), sub} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, wd := range []string{root, sub} {
		t.Chdir(wd)
		p := defaultAnchors
		if err := findScript(&p, false, "--anchors"); err != nil {
			t.Fatalf("from %s: %v", wd, err)
		}
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			t.Errorf("from %s: found %q (%v)", wd, p, err)
		}
	}
	// A path the user gave is taken as it is, and "" skips the script.
	p := defaultAnchors
	t.Chdir(sub)
	if err := findScript(&p, true, "--anchors"); err == nil || !strings.Contains(err.Error(), `--anchors ""`) {
		t.Errorf("a given relative path was looked for above: %v", err)
	}
	p = ""
	if err := findScript(&p, true, "--anchors"); err != nil || p != "" {
		t.Errorf("%q: %v", p, err)
	}
	// Outside a checkout the default is not found, and the message says what to do.
	t.Chdir(t.TempDir())
	p = defaultAnchors
	if err := findScript(&p, false, "--anchors"); err == nil || !strings.Contains(err.Error(), "checkout") {
		t.Errorf("outside a checkout: %v", err)
	}
}
