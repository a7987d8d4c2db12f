package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
)

var (
	root      = filepath.Join("..", "..", "..")
	torchDir  = filepath.Join(root, "testdata", "torch")
	deepPth   = filepath.Join(torchDir, "deep.pth")
	corpusDir = filepath.Join(torchDir, "corpus")
)

func TestMain(m *testing.M) {
	flag.Parse()
	beam.Init()
	os.Exit(m.Run())
}

// runWith sets the command's flags (the others to their defaults) and runs
// it in this process, on Prism.
func runWith(t *testing.T, args ...string) (int, string) {
	t.Helper()
	for _, name := range []string{"model", "data", "vocab", "input", "output", "dead-letter", "shards", "buckets", "batch-size", "threads", "max-words", "quantize", "scheme", "nonlinearity"} {
		f := flag.Lookup(name)
		if err := f.Value.Set(f.DefValue); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i+1 < len(args); i += 2 {
		if err := flag.Set(strings.TrimPrefix(args[i], "--"), args[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	var stderr bytes.Buffer
	code := run(context.Background(), &stderr)
	return code, stderr.String()
}

// lstmqBinary builds the lstmq command of the main module.
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

type scored struct {
	File    string
	Line    int
	Text    string
	Logprob float64
	Tokens  int
	OOV     int
	Ppl     float64
}

func readJSONLines[T any](t *testing.T, paths ...string) []T {
	t.Helper()
	var out []T
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var v T
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			out = append(out, v)
		}
		f.Close()
	}
	return out
}

// TestMatchesLstmqScore runs the acceptance command on a corpus in
// several files, with the defaults (float32, batch 16, 4 shards), and
// compares every line with `lstmq score` on its file: the same tokens, oov
// and log-probability (float32 scores do not depend on the batch: within
// 1e-6), and every input line exactly once across OUTPUT*.
func TestMatchesLstmqScore(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(corpusDir, "test.txt"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	lines = append(lines, "", "zzzunknown the cat")
	in := t.TempDir()
	var files []string
	for i := range 4 {
		path := filepath.Join(in, fmt.Sprintf("f%d.txt", i))
		part := lines[i*len(lines)/4 : (i+1)*len(lines)/4]
		if err := os.WriteFile(path, []byte(strings.Join(part, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
	}
	out := filepath.Join(t.TempDir(), "scores")
	code, stderr := runWith(t, "--model", deepPth, "--data", corpusDir, "--input", filepath.Join(in, "*.txt"), "--output", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, fmt.Sprintf("scored %d sentences", len(lines))) || !strings.Contains(stderr, "model loaded 1 time(s)") {
		t.Errorf("summary: %s", stderr)
	}
	shards, _ := filepath.Glob(out + "*")
	got := map[string]scored{}
	for _, r := range readJSONLines[scored](t, shards...) {
		key := fmt.Sprintf("%s:%d", r.File, r.Line)
		if _, dup := got[key]; dup {
			t.Errorf("%s twice", key)
		}
		got[key] = r
	}
	if len(got) != len(lines) {
		t.Errorf("%d lines in %d shards, want %d", len(got), len(shards), len(lines))
	}
	bin := lstmqBinary(t)
	for _, file := range files {
		cmd := exec.Command(bin, "score", "--model", deepPth, "--data", corpusDir, "--input", file)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("lstmq score %s: %v: %s", file, err, stderr.String())
		}
		for _, w := range readJSONLines[scored](t, writeTemp(t, stdout.Bytes())) {
			g, ok := got[fmt.Sprintf("%s:%d", file, w.Line)]
			if !ok || math.Abs(g.Logprob-w.Logprob) > 1e-6 || g.Tokens != w.Tokens || g.OOV != w.OOV || math.Abs(g.Ppl-w.Ppl) > 1e-6*w.Ppl {
				t.Errorf("%s line %d: beam %+v, lstmq score %+v", file, w.Line, g, w)
			}
		}
	}
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out.jsonl")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestUsage: bad flags exit 2 with one line naming the flag, before any
// pipeline runs.
func TestUsage(t *testing.T) {
	in := t.TempDir()
	if err := os.WriteFile(filepath.Join(in, "a.txt"), []byte("the cat\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	glob := filepath.Join(in, "*.txt")
	out := filepath.Join(t.TempDir(), "s")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", corpusDir, "--input", glob, "--output", out}, "--model is required"},
		{[]string{"--model", deepPth, "--data", corpusDir, "--output", out}, "--input is required"},
		{[]string{"--model", deepPth, "--data", corpusDir, "--input", glob}, "--output is required"},
		{[]string{"--model", "nonexistent.pth", "--data", corpusDir, "--input", glob, "--output", out}, "--model: stat nonexistent.pth"},
		{[]string{"--model", deepPth, "--data", corpusDir, "--input", filepath.Join(in, "*.none"), "--output", out}, "no file matches"},
		{[]string{"--model", deepPth, "--data", corpusDir, "--vocab", "v.txt", "--input", glob, "--output", out}, "--data or --vocab, not both"},
		{[]string{"--model", deepPth, "--data", corpusDir, "--input", glob, "--output", out, "--buckets", "60,30"}, "--buckets"},
		{[]string{"--model", deepPth, "--data", corpusDir, "--input", glob, "--output", out, "--quantize", "int4"}, "--quantize must be int8"},
		{[]string{"--model", deepPth, "--data", corpusDir, "--input", glob, "--output", out, "--batch-size", "0"}, "--batch-size"},
		{[]string{"--model", deepPth, "--data", corpusDir, "--input", glob, "--output", out, "--shards", "0"}, "--shards"},
		{[]string{"--model", deepPth, "--data", corpusDir, "--input", glob, "--output", out, "--nonlinearity", "sigmoid"}, "--nonlinearity must be tanh or relu"},
		{[]string{"--model", deepPth, "--data", corpusDir, "--input", glob, "--output", "nosuchfs://b/s"}, `--output nosuchfs://b/s: file system scheme "nosuchfs" not registered`},
	} {
		code, stderr := runWith(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
}

// TestBadModel: a model file that is not one fails the job with exit 1 and
// the file's name.
func TestBadModel(t *testing.T) {
	in := t.TempDir()
	if err := os.WriteFile(filepath.Join(in, "a.txt"), []byte("the cat\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.pth")
	if err := os.WriteFile(bad, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stderr := runWith(t, "--model", bad, "--data", corpusDir, "--input", filepath.Join(in, "*.txt"), "--output", filepath.Join(t.TempDir(), "s"))
	if code != 1 || !strings.Contains(stderr, "bad.pth") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}
