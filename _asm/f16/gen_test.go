//go:build generate

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedUpToDate regenerates the kernels into a temporary directory
// and fails if they differ from the committed files in internal/f16 (the
// first line, which records the command, aside).
func TestGeneratedUpToDate(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"-out": "kernels_amd64.s", "-stubs": "kernels_amd64.go", "-dispatch": "tile_dispatch_amd64.go"}
	args := []string{"run", "-tags", "generate", ".", "-pkg", "f16"}
	for flag, name := range files {
		args = append(args, flag, filepath.Join(dir, name))
	}
	cmd := exec.Command("go", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %v: %v\n%s", args, err, out)
	}
	for _, name := range files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("..", "..", "internal", "f16", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(body(got), body(want)) {
			t.Errorf("internal/f16/%s is stale: run go generate ./internal/f16", name)
		}
	}
}

// body drops the first line.
func body(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}
