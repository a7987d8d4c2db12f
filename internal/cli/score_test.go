package cli

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goldenScores reads PyTorch's per-sentence log-probabilities of the deep
// fixture model (testdata/torch/score/score.json) for a variant.
func goldenScores(t *testing.T, variant string) (texts []string, logprobs []float64) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(torchDir, "score", "score.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Models map[string]struct {
			Variants map[string][]struct {
				Text    string
				Logprob float64
			}
		}
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	for _, s := range g.Models["deep"].Variants[variant] {
		if !strings.ContainsAny(s.Text, "\n\r") {
			texts, logprobs = append(texts, s.Text), append(logprobs, s.Logprob)
		}
	}
	return texts, logprobs
}

func writeLines(t *testing.T, lines []string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestScoreMatchesPyTorch runs lstmq score on the golden sentences and
// compares its JSON lines with PyTorch's log-probabilities (1e-4).
func TestScoreMatchesPyTorch(t *testing.T) {
	for _, c := range []struct{ variant, batch string }{{"fp32", "16"}, {"pytorch", "1"}} {
		texts, want := goldenScores(t, c.variant)
		args := []string{"score", "--model", deepPth, "--data", corpusDir, "--input", writeLines(t, texts), "--batch-size", c.batch, "--threads", "1"}
		if c.variant != "fp32" {
			args = append(args, "--quantize", "int8", "--scheme", c.variant)
		}
		code, out, errs := run(t, args...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != len(texts) {
			t.Fatalf("%d output lines for %d sentences", len(lines), len(texts))
		}
		for i, l := range lines {
			var r struct {
				Line    int
				Logprob float64
				Tokens  int
				Ppl     float64
			}
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatal(err)
			}
			if r.Line != i+1 || math.Abs(r.Logprob-want[i]) > 1e-4 || r.Tokens != len(strings.Fields(texts[i]))+1 {
				t.Errorf("%s line %d: %s; PyTorch logprob %v", c.variant, i+1, l, want[i])
			}
			if p := math.Exp(-r.Logprob / float64(r.Tokens)); math.Abs(r.Ppl-p) > 1e-9*p {
				t.Errorf("line %d: ppl %v, want %v", i+1, r.Ppl, p)
			}
		}
		if !strings.Contains(errs, "scored") || !strings.Contains(errs, "perplexity") {
			t.Errorf("no summary on stderr: %q", errs)
		}
	}
}

// TestScoreBadInput checks exit codes and messages on bad lines, an empty
// input and a vocabulary that does not fit.
func TestScoreBadInput(t *testing.T) {
	bad := writeLines(t, []string{"the cat", "a \xff b", "the"})
	code, out, errs := run(t, "score", "--model", deepPth, "--data", corpusDir, "--input", bad)
	if code != 1 || errs == "" || !strings.Contains(errs, bad+": line 2: invalid UTF-8: byte 0xff at offset 2") {
		t.Errorf("bad line: exit %d, stderr %q", code, errs)
	}
	if strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, `{"line":1,`) {
		t.Errorf("bad line: the lines before it should be written: %q", out)
	}
	if strings.Count(errs, "\n") != 1 {
		t.Errorf("bad line: stderr is not one line: %q", errs)
	}

	code, out, errs = run(t, "score", "--model", deepPth, "--data", corpusDir, "--input", bad, "--skip-bad")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[1], `{"line":2,"error":"invalid UTF-8`) || !strings.HasPrefix(lines[2], `{"line":3,"logprob"`) {
		t.Errorf("--skip-bad: exit %d, out %q, stderr %q", code, out, errs)
	}

	long := writeLines(t, []string{strings.Repeat("w", 1<<20+1)})
	code, _, errs = run(t, "score", "--model", deepPth, "--data", corpusDir, "--input", long)
	if code != 1 || !strings.Contains(errs, "line 1: a word of 1048577 bytes") {
		t.Errorf("long word: exit %d, stderr %q", code, errs)
	}

	empty := filepath.Join(t.TempDir(), "empty.txt")
	os.WriteFile(empty, nil, 0o644)
	code, out, errs = run(t, "score", "--model", deepPth, "--data", corpusDir, "--input", empty)
	if code != 0 || out != "" || !strings.Contains(errs, "scored 0 sentences") {
		t.Errorf("empty input: exit %d, out %q, stderr %q", code, out, errs)
	}

	vocab := filepath.Join(t.TempDir(), "vocab.txt")
	os.WriteFile(vocab, []byte("<eos>\nthe\ncat\n"), 0o644)
	code, _, errs = run(t, "score", "--model", deepPth, "--vocab", vocab, "--input", bad)
	if code != 1 || !strings.Contains(errs, "model has 291 tokens but the vocabulary of "+vocab+" has 3 words") {
		t.Errorf("vocabulary mismatch: exit %d, stderr %q", code, errs)
	}

	jsonl := writeLines(t, []string{`{"id":"a7","text":"the cat"}`, `{"id":1}`})
	code, out, errs = run(t, "score", "--model", deepPth, "--data", corpusDir, "--input", jsonl, "--format", "jsonl", "--skip-bad", "--per-token")
	lines = strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], `{"line":1,"id":"a7","logprob":`) ||
		!strings.Contains(lines[0], `{"word":"<eos>","logprob":`) || lines[1] != `{"line":2,"error":"no \"text\" field"}` {
		t.Errorf("jsonl: exit %d, out %q, stderr %q", code, out, errs)
	}

	if code, _, errs := run(t, "score", "--model", deepPth, "--data", corpusDir, "--format", "csv"); code != 2 {
		t.Errorf("--format csv: exit %d, stderr %q", code, errs)
	}
}

// TestNext checks lstmq next's JSON against the library's convention:
// probabilities in decreasing order, k of them.
func TestNext(t *testing.T) {
	code, out, errs := run(t, "next", "--model", deepPth, "--data", corpusDir, "-k", "4", "--json", "the")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r struct {
		Context    string
		Candidates []struct {
			Word string
			Prob float64
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Context != "the" || len(r.Candidates) != 4 {
		t.Fatalf("%s", out)
	}
	for i := 1; i < 4; i++ {
		if r.Candidates[i].Prob > r.Candidates[i-1].Prob || r.Candidates[i].Prob <= 0 {
			t.Errorf("candidates out of order: %s", out)
		}
	}
	code, out, _ = run(t, "next", "--model", deepPth, "--data", corpusDir, "-k", "2", "the")
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.HasPrefix(out, r.Candidates[0].Word+"\t") {
		t.Errorf("text output %q", out)
	}
}
