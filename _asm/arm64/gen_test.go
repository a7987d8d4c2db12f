//go:build generate

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedUpToDate regenerates the arm64 kernels into a temporary
// directory and fails if they differ from the committed files (the first
// line, which records the command, aside).
func TestGeneratedUpToDate(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"-q8": "q8/q8_arm64.s", "-f32": "f32/matrix_arm64.s", "-f32stubs": "f32/gemm_arm64.go"}
	args := []string{"run", "-tags", "generate", "."}
	for flag, name := range files {
		args = append(args, flag, filepath.Join(dir, filepath.Base(name)))
	}
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		t.Fatalf("go %v: %v\n%s", args, err, out)
	}
	for _, name := range files {
		got, err := os.ReadFile(filepath.Join(dir, filepath.Base(name)))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("..", "..", "internal", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(body(got), body(want)) {
			t.Errorf("internal/%s is stale: run go generate ./internal/q8 ./internal/f32", name)
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
