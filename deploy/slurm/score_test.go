// Package slurm holds the SLURM array script that scores a corpus with
// `lstmq score` in pieces (score.sh); its test runs the script's tasks on
// this machine and checks that the merge equals one run.
package slurm

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var (
	root      = filepath.Join("..", "..")
	deepPth   = filepath.Join(root, "testdata", "torch", "deep.pth")
	corpusDir = filepath.Join(root, "testdata", "torch", "corpus")
)

func lstmqBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "lstmq")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/lstmq")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build lstmq: %v\n%s", err, out)
	}
	return bin
}

// script runs score.sh with env added to this process's.
func script(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{"score.sh"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), stderr.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, stderr.String()
}

// TestArrayEqualsOneRun runs the K tasks of an array (as SLURM would, each
// with its SLURM_ARRAY_TASK_ID) and the merge, for several K, and compares
// the merged JSON lines byte for byte with one `lstmq score` of the whole
// input: float32 scores do not depend on the batch a sentence runs in, and
// the merge numbers the lines as one run does. The input has a bad line
// (--skip-bad keeps it as an error line), empty lines and no final newline.
func TestArrayEqualsOneRun(t *testing.T) {
	if _, err := exec.LookPath("split"); err != nil {
		t.Skip("no split (coreutils)")
	}
	bin := lstmqBinary(t)
	b, err := os.ReadFile(filepath.Join(corpusDir, "test.txt"))
	if err != nil {
		t.Fatal(err)
	}
	input := filepath.Join(t.TempDir(), "corpus.txt")
	text := string(b) + "\n\xff bad byte\nthe zzzunknown\n\nthe end"
	if err := os.WriteFile(input, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	one := exec.Command(bin, "score", "--model", deepPth, "--data", corpusDir, "--input", input, "--skip-bad")
	var stderr bytes.Buffer
	one.Stderr = &stderr
	want, err := one.Output()
	if err != nil {
		t.Fatalf("lstmq score: %v: %s", err, stderr.String())
	}
	base := []string{"LSTMQ=" + bin, "MODEL=" + deepPth, "DATA=" + corpusDir, "SLURM_CPUS_PER_TASK=1"}
	for _, k := range []int{1, 3, 8, 200} { // 200 > lines: some pieces are empty
		out := filepath.Join(t.TempDir(), "out")
		env := append(base, fmt.Sprintf("SLURM_ARRAY_TASK_COUNT=%d", k))
		for task := range k {
			if code, errs := script(t, append(env, fmt.Sprintf("SLURM_ARRAY_TASK_ID=%d", task)), "score", input, out); code != 0 {
				t.Fatalf("K=%d task %d: exit %d: %s", k, task, code, errs)
			}
		}
		if code, errs := script(t, env, "merge", input, out); code != 0 {
			t.Fatalf("K=%d merge: exit %d: %s", k, code, errs)
		}
		got, err := os.ReadFile(filepath.Join(out, "scores.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("K=%d: the merge differs from one run\n%s\nwant\n%s", k, firstDiff(got), firstDiff(want))
		}
	}
}

func firstDiff(b []byte) string {
	lines := strings.SplitN(string(b), "\n", 4)
	return strings.Join(lines[:min(3, len(lines))], "\n")
}

// TestScriptErrors: the script refuses to run without its array settings
// and does not merge while a part is missing.
func TestScriptErrors(t *testing.T) {
	input := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(input, []byte("the\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	for _, c := range []struct {
		env  []string
		args []string
		code int
		want string
	}{
		{nil, []string{"score", input, out}, 2, "number of pieces is unknown"},
		{[]string{"SHARDS=2"}, []string{"score", input, out}, 2, "SLURM_ARRAY_TASK_ID is not set"},
		{[]string{"SHARDS=2", "SLURM_ARRAY_TASK_ID=2"}, []string{"score", input, out}, 2, "task 2 of 2"},
		{[]string{"SHARDS=2"}, []string{"merge", input, out}, 1, "part-00000.jsonl is missing"},
		{[]string{"SHARDS=2"}, []string{"score", filepath.Join(out, "none.txt"), out}, 2, "no such file"},
		{nil, []string{"score", input}, 2, "usage"},
	} {
		env := append([]string{"SLURM_ARRAY_TASK_COUNT=", "SLURM_ARRAY_TASK_ID=", "SHARDS="}, c.env...)
		if code, errs := script(t, env, c.args...); code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%v %v: exit %d, %q; want %d, %q", c.env, c.args, code, errs, c.code, c.want)
		}
	}
}
