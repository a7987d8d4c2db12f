package cli

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var (
	torchDir  = filepath.Join("..", "..", "testdata", "torch")
	deepPth   = filepath.Join(torchDir, "deep.pth")
	corpusDir = filepath.Join(torchDir, "corpus")
)

// run runs lstmq with args and returns its exit code, stdout and stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestEvalJSONMatchesPyTorch(t *testing.T) {
	code, out, errs := run(t, "eval", "--model", deepPth, "--data", corpusDir, "--json", "--threads", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	for _, k := range []string{"loss", "perplexity", "tokens", "seconds", "quantization"} {
		if _, ok := r[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, out)
		}
	}
	// test_loss of deep.json, PyTorch 1.13.
	if l := r["loss"].(float64); math.Abs(l-5.685430783925094) > 1e-5 {
		t.Errorf("loss %v, PyTorch 5.685430783925094", l)
	}
	if r["quantization"] != "fp32" || r["tokens"].(float64) != 1524 {
		t.Errorf("quantization %v tokens %v", r["quantization"], r["tokens"])
	}
}

func TestEvalMaxTokensAndText(t *testing.T) {
	code, out, errs := run(t, "eval", "--model", deepPth, "--data", corpusDir, "--max-tokens", "100")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	// test100_loss of deep.json is 5.686530753819629.
	if !strings.HasPrefix(out, "loss: 5.687\nelapsed time (seconds): ") || !strings.Contains(out, "99 tokens") {
		t.Errorf("output:\n%s", out)
	}
}

func TestInspect(t *testing.T) {
	code, out, errs := run(t, "inspect", "--model", deepPth)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := `LSTMModel(
  (drop): Dropout(p=0.5, inplace=False)
  (encoder): Embedding(291, 12)
  (rnn): LSTM(12, 10, num_layers=3, dropout=0.5)
  (decoder): Linear(in_features=10, out_features=291, bias=True)
)
`
	if !strings.HasPrefix(out, want) {
		t.Errorf("got\n%s\nwant prefix\n%s", out, want)
	}
	// 291·12 + 3 layers of LSTM weights and biases + 291·10 + 291.
	n := 291*12 + (40*12 + 40*10 + 80) + 2*(40*10+40*10+80) + 291*10 + 291
	// The size is what torch.save(model.state_dict()) wrote in the file's
	// own layout: the file's 41477 bytes (gen.py's model has no dropout
	// module in its _metadata; the tutorial's LSTMModel's state dict of
	// these weights, save_ref/deep.pth, has 41541).
	if !strings.Contains(out, "Parameters: "+strconv.Itoa(n)+"\n") || !strings.Contains(out, "Size (MB): 0.041477 ") {
		t.Errorf("want Parameters: %d and a Size (MB) line, got\n%s", n, out)
	}
}

func TestGenerateDeterministic(t *testing.T) {
	dir := t.TempDir()
	outs := []string{}
	for i := range 2 {
		f := filepath.Join(dir, "out"+strconv.Itoa(i)+".txt")
		code, _, errs := run(t, "generate", "--model", deepPth, "--data", corpusDir, "--words", "250", "--seed", "7", "--out", f, "--format", "bytes")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		if !strings.Contains(errs, "| Generated 0/250 words\n| Generated 100/250 words\n| Generated 200/250 words\n") {
			t.Errorf("progress lines: %q", errs)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(b))
	}
	if outs[0] != outs[1] {
		t.Error("same seed gave different text")
	}
	lines := strings.Split(strings.TrimSuffix(outs[0], " "), "\n")
	if len(lines) != 13 || len(strings.Fields(lines[0])) != 20 || !strings.HasPrefix(lines[0], "b") {
		t.Errorf("want 12 lines of 20 b'…' words and one of 10, got %d lines: %q", len(lines), lines[0])
	}
	code, other, _ := run(t, "generate", "--model", deepPth, "--data", corpusDir, "--words", "250", "--seed", "8", "--format", "bytes")
	if code != 0 || other == outs[0] {
		t.Error("another seed gave the same text")
	}
}

func TestVocab(t *testing.T) {
	code, out, errs := run(t, "vocab", "--data", corpusDir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	words := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	raw, err := os.ReadFile(filepath.Join(torchDir, "deep.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct{ Vocab []string }
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if strings.Join(words, "\x00") != strings.Join(g.Vocab, "\x00") {
		t.Errorf("vocab differs from PyTorch's idx2word (%d vs %d words)", len(words), len(g.Vocab))
	}
}

// TestErrors checks each bad input: a one-line message naming the file and
// the problem, exit code 1 (bad input) or 2 (bad usage), no panic.
func TestErrors(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	os.Mkdir(small, 0o755)
	for _, n := range []string{"train.txt", "valid.txt", "test.txt"} {
		os.WriteFile(filepath.Join(small, n), []byte("a b c\n"), 0o644)
	}
	badUTF := filepath.Join(dir, "badutf")
	os.Mkdir(badUTF, 0o755)
	os.WriteFile(filepath.Join(badUTF, "train.txt"), []byte("ok\nbad \xff here\n"), 0o644)
	os.WriteFile(filepath.Join(badUTF, "valid.txt"), []byte("x\n"), 0o644)
	os.WriteFile(filepath.Join(badUTF, "test.txt"), []byte("x\n"), 0o644)
	empty := filepath.Join(dir, "empty.pth")
	os.WriteFile(empty, nil, 0o644)

	for _, c := range []struct {
		name string
		args []string
		code int
		want []string // substrings of the message
	}{
		{"no model flag", []string{"eval", "--data", corpusDir}, 2, []string{"--model"}},
		{"unknown flag", []string{"eval", "--modle", deepPth}, 2, []string{"unknown flag"}},
		{"bad split", []string{"eval", "--model", deepPth, "--data", corpusDir, "--split", "dev"}, 2, []string{"--split"}},
		{"missing model", []string{"eval", "--model", filepath.Join(dir, "nope.pth"), "--data", corpusDir}, 1, []string{"nope.pth"}},
		{"empty model", []string{"eval", "--model", empty, "--data", corpusDir}, 1, []string{"empty.pth"}},
		{"truncated zip", []string{"inspect", "--model", filepath.Join(torchDir, "truncated.pth")}, 1, []string{"truncated.pth"}},
		{"truncated legacy", []string{"inspect", "--model", filepath.Join(torchDir, "truncated_legacy.pth")}, 1, []string{"truncated_legacy.pth"}},
		{"pickle calling os.system", []string{"inspect", "--model", filepath.Join(torchDir, "posix_system.pth")}, 1, []string{"posix_system.pth", "system"}},
		{"non-tensor entry", []string{"inspect", "--model", filepath.Join(torchDir, "nontensor.pth")}, 1, []string{"nontensor.pth"}},
		{"quantize a quantized checkpoint", []string{"quantize", "--model", filepath.Join(torchDir, "quantized.pth"), "--data", corpusDir, "--out", filepath.Join(dir, "q.safetensors")}, 1, []string{"quantized.pth", "already quantized"}},
		{"vocabulary mismatch", []string{"eval", "--model", deepPth, "--data", small}, 1, []string{"deep.pth", "291", "4 words"}},
		{"invalid UTF-8", []string{"vocab", "--data", badUTF}, 1, []string{"train.txt", "UTF-8", "offset 7"}},
		{"missing corpus", []string{"vocab", "--data", filepath.Join(dir, "none")}, 1, []string{"train.txt"}},
		{"bench on a bad model", []string{"bench", "--model", filepath.Join(torchDir, "truncated.pth"), "--data", corpusDir, "--anchors", "", "--torch-generate", ""}, 1, []string{"truncated.pth", "truncated"}},
		{"bench on another corpus", []string{"bench", "--model", deepPth, "--data", small, "--anchors", "", "--torch-generate", ""}, 1, []string{"deep.pth", "291", "4 words"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errs := run(t, c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d (%q)", code, c.code, errs)
			}
			if strings.Count(errs, "\n") != 1 || !strings.HasPrefix(errs, "lstmq: ") {
				t.Errorf("want one line starting with lstmq:, got %q", errs)
			}
			for _, w := range c.want {
				if !strings.Contains(errs, w) {
					t.Errorf("message %q lacks %q", errs, w)
				}
			}
			if strings.Contains(errs, "panic") || strings.Contains(errs, "goroutine") {
				t.Errorf("panic: %s", errs)
			}
		})
	}
}
