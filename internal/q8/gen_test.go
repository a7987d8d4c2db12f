package q8

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGenerated regenerates q8_amd64.s with the avo generator in
// ../../_asm/q8 and fails if it differs from the committed file.
func TestGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("regenerating the assembly takes a while")
	}
	gen := filepath.Join("..", "..", "_asm")
	if _, err := os.Stat(filepath.Join(gen, "q8", "main.go")); err != nil {
		t.Skipf("generator not found: %v", err)
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	out := filepath.Join(t.TempDir(), "q8_amd64.s")
	cmd := exec.Command("go", "run", "./q8", "-out", out)
	cmd.Dir = gen
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot run the generator (offline module cache?): %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("q8_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	// The header names the output path; compare from the first line on.
	cut := func(b []byte) []byte { return b[bytes.IndexByte(b, '\n'):] }
	if !bytes.Equal(cut(got), cut(want)) {
		t.Fatal("q8_amd64.s is stale: run go generate ./internal/q8")
	}
}
