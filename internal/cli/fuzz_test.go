package cli

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lstmq/lstmq/checkpoint"
	"github.com/lstmq/lstmq/model"
	"github.com/lstmq/lstmq/quant"
)

// The fuzz targets run each command that reads a file on bytes from the
// fuzzer, in process, through Main. Whatever the bytes, Main must return 0
// or 1 (never 2: the arguments are fine) and on failure print exactly one
// line "lstmq: …" naming the file; a panic fails the target. Their seed
// corpora are committed in testdata/fuzz/<Target>, written by
//
//	go test ./internal/cli -run TestWriteFuzzSeeds -cli.update-fuzz-seeds
//
// and plain go test runs every seed as a test.

var updateFuzzSeeds = flag.Bool("cli.update-fuzz-seeds", false, "rewrite the seed corpora of the Fuzz targets in testdata/fuzz")

// fuzzCorpus is the corpus the fuzzed models are evaluated on: its
// dictionary is a b c <eos> d e, 6 words.
var fuzzCorpus = map[string]string{
	"train.txt": "a b c\nd e\n",
	"valid.txt": "a b\n",
	"test.txt":  "c d e a b c d\ne a\n",
}

// checkRun fails t unless code is 0, or 1 with one stderr line naming file.
func checkRun(t *testing.T, code int, stderr, file string) {
	t.Helper()
	switch code {
	case 0:
	case 1:
		msg, ok := strings.CutSuffix(stderr, "\n")
		if !ok || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "lstmq: ") || !strings.Contains(msg, file) {
			t.Fatalf("stderr is not one line \"lstmq: …\" naming %s:\n%q", file, stderr)
		}
	default:
		t.Fatalf("exit code %d: %s", code, stderr)
	}
}

func writeDir(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, s := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzInspect runs lstmq inspect on a model file of arbitrary bytes.
func FuzzInspect(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "m.bin")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		var errb bytes.Buffer
		code := Main([]string{"inspect", "--model", path}, io.Discard, &errb)
		checkRun(t, code, errb.String(), path)
	})
}

// FuzzEval runs lstmq eval on a model file of arbitrary bytes and a corpus
// whose test split is arbitrary too.
func FuzzEval(f *testing.F) {
	f.Fuzz(func(t *testing.T, mb, test []byte) {
		dir := t.TempDir()
		writeDir(t, dir, fuzzCorpus)
		if err := os.WriteFile(filepath.Join(dir, "test.txt"), test, 0o644); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "m.bin")
		if err := os.WriteFile(path, mb, 0o644); err != nil {
			t.Fatal(err)
		}
		var errb bytes.Buffer
		code := Main([]string{"eval", "--model", path, "--data", dir, "--bptt", "3", "--threads", "1"}, io.Discard, &errb)
		if code == 1 && !strings.Contains(errb.String(), path) {
			// A bad corpus is named by its folder.
			checkRun(t, code, errb.String(), dir)
			return
		}
		checkRun(t, code, errb.String(), path)
	})
}

// FuzzVocab runs lstmq vocab on a corpus folder of three arbitrary splits.
func FuzzVocab(f *testing.F) {
	f.Fuzz(func(t *testing.T, train, valid, test []byte) {
		dir := t.TempDir()
		for name, b := range map[string][]byte{"train.txt": train, "valid.txt": valid, "test.txt": test} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		var out, errb bytes.Buffer
		code := Main([]string{"vocab", "--data", dir}, &out, &errb)
		checkRun(t, code, errb.String(), dir)
		if code == 0 && !strings.Contains(out.String(), "<eos>\n") {
			t.Fatalf("vocabulary without <eos>: %q", out.String())
		}
	})
}

// checkOutput fails t unless out is complete after a run that succeeded
// and absent after one that failed (nothing was there before), with no
// temporary file left in its folder.
func checkOutput(t *testing.T, code int, out string) {
	t.Helper()
	_, err := os.Stat(out)
	if code == 0 && err != nil {
		t.Fatalf("exit 0 but %v", err)
	}
	if code != 0 && err == nil {
		t.Fatalf("exit %d but %s was written", code, out)
	}
	ents, _ := os.ReadDir(filepath.Dir(out))
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Fatalf("temporary file %s left behind", e.Name())
		}
	}
}

// fuzzModelDir writes fuzzCorpus with an arbitrary split and model file
// into a new folder and returns the folder and the model's path.
func fuzzModelDir(t *testing.T, mb []byte, split string, sb []byte) (dir, path string) {
	dir = t.TempDir()
	writeDir(t, dir, fuzzCorpus)
	if err := os.WriteFile(filepath.Join(dir, split), sb, 0o644); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "m.bin")
	if err := os.WriteFile(path, mb, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

// checkModelRun is checkRun for a command given a model file and a
// corpus folder, either of which may be the one it names.
func checkModelRun(t *testing.T, code int, stderr, dir, path string) {
	t.Helper()
	if code == 1 && !strings.Contains(stderr, path) {
		checkRun(t, code, stderr, dir)
		return
	}
	checkRun(t, code, stderr, path)
}

// FuzzGenerate runs lstmq generate --out on a model file of arbitrary
// bytes and a corpus whose train split is arbitrary too.
func FuzzGenerate(f *testing.F) {
	f.Fuzz(func(t *testing.T, mb, train []byte) {
		dir, path := fuzzModelDir(t, mb, "train.txt", train)
		out := filepath.Join(t.TempDir(), "out.txt")
		var errb bytes.Buffer
		code := Main([]string{"generate", "--model", path, "--data", dir, "--words", "5", "--out", out, "--threads", "1"}, io.Discard, &errb)
		checkModelRun(t, code, errb.String(), dir, path)
		checkOutput(t, code, out)
	})
}

// FuzzQuantize runs lstmq quantize --report --out on a model file of
// arbitrary bytes and a corpus whose valid split (the one the report
// evaluates) is arbitrary too; what it writes must load again.
func FuzzQuantize(f *testing.F) {
	f.Fuzz(func(t *testing.T, mb, valid []byte) {
		dir, path := fuzzModelDir(t, mb, "valid.txt", valid)
		out := filepath.Join(t.TempDir(), "q.safetensors")
		var errb bytes.Buffer
		code := Main([]string{"quantize", "--model", path, "--data", dir, "--out", out, "--scheme", "channel-act8-emb8",
			"--report", "--report-tokens", "4", "--bptt", "2", "--threads", "1"}, io.Discard, &errb)
		checkModelRun(t, code, errb.String(), dir, path)
		checkOutput(t, code, out)
		if code == 0 {
			errb.Reset()
			if code := Main([]string{"inspect", "--model", out}, io.Discard, &errb); code != 0 {
				t.Fatalf("inspect of the quantized model: exit %d: %s", code, errb.String())
			}
		}
	})
}

// FuzzTrain runs lstmq train --resume on a model file of arbitrary bytes
// and a corpus whose train split is arbitrary too, for at most two
// batches.
func FuzzTrain(f *testing.F) {
	f.Fuzz(func(t *testing.T, mb, train []byte) {
		dir, path := fuzzModelDir(t, mb, "train.txt", train)
		// Validation and test run with batch size 10 and need two rows.
		long := strings.Repeat("a b c d e\n", 4)
		writeDir(t, dir, map[string]string{"valid.txt": long, "test.txt": long})
		out := filepath.Join(t.TempDir(), "s.pth")
		var errb bytes.Buffer
		code := Main([]string{"train", "--data", dir, "--save", out, "--resume", path, "--epochs", "1", "--max-batches", "2",
			"--batch-size", "2", "--bptt", "3", "--threads", "1"}, io.Discard, &errb)
		checkModelRun(t, code, errb.String(), dir, path)
		if code == 0 {
			checkOutput(t, code, out)
		}
	})
}

// FuzzScore runs lstmq score on a model file of arbitrary bytes and an
// input of arbitrary bytes: exit 0 with one JSON line per input line, or 1
// with one line naming the model, the corpus or the input.
func FuzzScore(f *testing.F) {
	f.Fuzz(func(t *testing.T, mb, input []byte) {
		dir, path := fuzzModelDir(t, mb, "train.txt", []byte(fuzzCorpus["train.txt"]))
		in := filepath.Join(t.TempDir(), "in.txt")
		if err := os.WriteFile(in, input, 0o644); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		code := Main([]string{"score", "--model", path, "--data", dir, "--input", in, "--batch-size", "2", "--threads", "1"}, &out, &errb)
		if code == 1 && strings.Contains(errb.String(), in) {
			checkRun(t, code, errb.String(), in)
		} else if code == 1 {
			checkModelRun(t, code, errb.String(), dir, path)
		}
		if code != 0 {
			return
		}
		lines := strings.Count(string(input), "\n")
		if len(input) > 0 && input[len(input)-1] != '\n' {
			lines++
		}
		if got := strings.Count(out.String(), "\n"); got != lines {
			t.Fatalf("%d output lines for %d input lines", got, lines)
		}
	})
}

// FuzzTutorial runs lstmq tutorial on a model file of arbitrary bytes, a
// corpus whose test split is arbitrary too, and fuzzed flags: the words
// to generate, the test tokens, the scheme. Bad flags are exit 2 with one
// line; the text, the JSON and the chart it writes are complete or absent.
func FuzzTutorial(f *testing.F) {
	f.Fuzz(func(t *testing.T, mb, test []byte, words, maxTokens uint8, scheme string) {
		dir, path := fuzzModelDir(t, mb, "test.txt", test)
		work := t.TempDir()
		outs := []string{filepath.Join(work, "out.txt"), filepath.Join(work, "cmp.json"), filepath.Join(work, "cmp.svg")}
		var errb bytes.Buffer
		code := Main([]string{"tutorial", "--model", path, "--data", dir, "--dropout", "0.2", "--words", strconv.Itoa(int(words)),
			"--max-tokens", strconv.Itoa(int(maxTokens)), "--scheme", scheme, "--workdir", work,
			"--out", outs[0], "--json", outs[1], "--chart", outs[2]}, io.Discard, &errb)
		if code == 2 {
			if _, err := quant.ParseScheme(scheme); err == nil || strings.Count(errb.String(), "\n") != 1 {
				t.Fatalf("exit 2 for scheme %q (%v): %q", scheme, err, errb.String())
			}
			return
		}
		checkModelRun(t, code, errb.String(), dir, path)
		for _, out := range outs[1:] {
			checkOutput(t, code, out)
		}
	})
}

// FuzzBench runs lstmq bench --anchors "" (lstmq alone: no PyTorch or
// ONNX Runtime) on a model file of arbitrary bytes and a corpus whose test
// split is arbitrary too, one round on a few tokens. bench times lstmq in
// child processes of its own executable: the test binary, which TestMain
// turns into lstmq for them.
func FuzzBench(f *testing.F) {
	f.Fuzz(func(t *testing.T, mb, test []byte) {
		dir, path := fuzzModelDir(t, mb, "test.txt", test)
		out := filepath.Join(t.TempDir(), "bench.json")
		var errb bytes.Buffer
		code := Main([]string{"bench", "--model", path, "--data", dir, "--anchors", "", "--torch-generate", "",
			"--gen-words", "0", "--roofline=false", "--rounds", "1", "--max-tokens", "8", "--schemes", "pytorch",
			"--json", out}, io.Discard, &errb)
		checkModelRun(t, code, errb.String(), dir, path)
		checkOutput(t, code, out)
	})
}

// asLstmqEnv makes the test binary run as lstmq (Main on its arguments)
// when it is started with a command rather than -test flags: bench's
// children. TestMain sets it for them; the fuzzing workers, started with
// -test flags, inherit it and run the tests.
const asLstmqEnv = "LSTMQ_CLI_TEST_AS_LSTMQ"

func TestMain(m *testing.M) {
	if os.Getenv(asLstmqEnv) == "1" && len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-") {
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Setenv(asLstmqEnv, "1")
	os.Exit(m.Run())
}

// fuzzModels are small models of fuzzCorpus's 6 words: float32 .pth
// (untied and tied) and quantized .safetensors of two schemes.
func fuzzModels(t *testing.T) map[string][]byte {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 7))
	params := func(tied bool) *model.Params {
		const v, e, h = 6, 3, 3
		rnd := func(n int) []float32 {
			s := make([]float32, n)
			for i := range s {
				s[i] = float32(r.NormFloat64() * 0.3)
			}
			return s
		}
		p := &model.Params{NToken: v, NInp: e, NHid: h, Encoder: rnd(v * e), DecoderW: rnd(v * h), DecoderB: rnd(v)}
		if tied {
			p.DecoderW = p.Encoder
		}
		p.Layers = []model.LayerParams{{Wih: rnd(4 * h * e), Whh: rnd(4 * h * h), Bih: rnd(4 * h), Bhh: rnd(4 * h)}}
		return p
	}
	dir := t.TempDir()
	out := map[string][]byte{}
	for _, tied := range []bool{false, true} {
		name := fmt.Sprintf("tied_%v.pth", tied)
		p := params(tied)
		if err := checkpoint.SavePth(filepath.Join(dir, name), p); err != nil {
			t.Fatal(err)
		}
		out[name], _ = os.ReadFile(filepath.Join(dir, name))
		if tied {
			continue
		}
		for _, s := range []string{"pytorch", "block8-act8-emb8"} {
			sc, err := quant.ParseScheme(s)
			if err != nil {
				t.Fatal(err)
			}
			qm, err := quant.Quantize(p, sc)
			if err != nil {
				t.Fatal(err)
			}
			name := s + ".safetensors"
			if err := quant.Save(filepath.Join(dir, name), qm, []string{"a", "b", "c", "<eos>", "d", "e"}, nil); err != nil {
				t.Fatal(err)
			}
			out[name], _ = os.ReadFile(filepath.Join(dir, name))
		}
	}
	return out
}

// TestWriteFuzzSeeds writes the seed corpora with -cli.update-fuzz-seeds,
// and otherwise checks that the small models still evaluate (so the seeds
// reach past loading).
func TestWriteFuzzSeeds(t *testing.T) {
	models := fuzzModels(t)
	dir := t.TempDir()
	writeDir(t, dir, fuzzCorpus)
	for name, b := range models {
		path := filepath.Join(dir, name)
		os.WriteFile(path, b, 0o644)
		if code, _, errs := run(t, "eval", "--model", path, "--data", dir, "--bptt", "3"); code != 0 {
			t.Fatalf("%s: exit %d: %s", name, code, errs)
		}
	}
	if !*updateFuzzSeeds {
		return
	}
	seed := func(target, name string, args ...[]byte) {
		var b strings.Builder
		b.WriteString("go test fuzz v1\n")
		for _, a := range args {
			fmt.Fprintf(&b, "[]byte(%q)\n", a)
		}
		d := filepath.Join("testdata", "fuzz", target)
		os.MkdirAll(d, 0o755)
		if err := os.WriteFile(filepath.Join(d, name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// seedArgs writes a seed of []byte, uint8 and string arguments.
	seedArgs := func(target, name string, args ...any) {
		var b strings.Builder
		b.WriteString("go test fuzz v1\n")
		for _, a := range args {
			switch a := a.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%q)\n", a)
			case uint8:
				fmt.Fprintf(&b, "byte(%d)\n", a)
			case string:
				fmt.Fprintf(&b, "string(%q)\n", a)
			default:
				t.Fatalf("seed %s/%s: argument of type %T", target, name, a)
			}
		}
		d := filepath.Join("testdata", "fuzz", target)
		os.MkdirAll(d, 0o755)
		if err := os.WriteFile(filepath.Join(d, name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hostile := map[string][]byte{
		"empty":         nil,
		"text":          []byte("hello\n"),
		"st_header_big": append([]byte{0, 0, 0, 0, 0, 0, 0, 0x80}, `{}`...),
		"st_not_lstmq":  append([]byte{2, 0, 0, 0, 0, 0, 0, 0}, `{}`...),
		"zip_empty":     []byte("PK\x05\x06" + strings.Repeat("\x00", 18)),
		"legacy_magic":  []byte("\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."),
	}
	for _, src := range []string{"posix_system.pth", "nontensor.pth", "tiny_legacy.pth", "qckpt/tiny.pth", "qckpt/tiny_channel.pth"} {
		b, err := os.ReadFile(filepath.Join(torchDir, src))
		if err != nil {
			t.Fatal(err)
		}
		hostile[strings.NewReplacer("/", "_", ".pth", "").Replace(src)] = b
	}
	for name, b := range models {
		seed("FuzzInspect", name, b)
		seed("FuzzEval", name, b, []byte(fuzzCorpus["test.txt"]))
		seed("FuzzEval", name+"_newword", b, []byte("a b z\n"))
		seed("FuzzGenerate", name, b, []byte(fuzzCorpus["train.txt"]))
		seed("FuzzGenerate", name+"_newword", b, []byte("a b c\nd e z\n"))
		if strings.HasSuffix(name, ".pth") {
			seed("FuzzQuantize", name, b, []byte(fuzzCorpus["valid.txt"]))
			seed("FuzzQuantize", name+"_longer", b, []byte("a b c d e\ne d c b a\n"))
			seed("FuzzTrain", name, b, []byte("a b c d e a b c d e a b c d e\nd e\n"))
		}
	}
	for name, b := range hostile {
		seed("FuzzInspect", name, b)
	}
	seed("FuzzQuantize", "quantized_input", models["pytorch.safetensors"], []byte(fuzzCorpus["valid.txt"]))
	seed("FuzzTrain", "short_train", models["tied_false.pth"], []byte("a\n"))
	seed("FuzzTrain", "vocab_mismatch", models["tied_false.pth"], []byte("a b c d e f\n"))
	seed("FuzzEval", "short_split", models["tied_false.pth"], []byte("a\n"))
	seed("FuzzEval", "bad_utf8", models["tied_true.pth"], []byte("a \xff\n"))
	for name, b := range models {
		seed("FuzzScore", name, b, []byte("a b c\n\nd e z\n"))
	}
	seed("FuzzScore", "bad_utf8", models["tied_true.pth"], []byte("a \xff\n"))
	seed("FuzzScore", "no_eol_crlf", models["pytorch.safetensors"], []byte("a b\r\nc"))
	for _, name := range []string{"tied_false.pth", "tied_true.pth"} {
		b, test := models[name], []byte(fuzzCorpus["test.txt"])
		seedArgs("FuzzTutorial", name, b, test, uint8(5), uint8(0), "pytorch")
		seedArgs("FuzzBench", name, b, test)
	}
	seedArgs("FuzzTutorial", "act8_short", models["tied_false.pth"], []byte("a b\n"), uint8(0), uint8(2), "channel-act8-emb8")
	seedArgs("FuzzTutorial", "bad_scheme", models["tied_false.pth"], []byte(fuzzCorpus["test.txt"]), uint8(1), uint8(1), "int4")
	seedArgs("FuzzTutorial", "quantized_input", models["pytorch.safetensors"], []byte(fuzzCorpus["test.txt"]), uint8(1), uint8(3), "pytorch")
	seedArgs("FuzzTutorial", "newword", models["tied_true.pth"], []byte("a z\n"), uint8(1), uint8(0), "pytorch")
	seedArgs("FuzzBench", "quantized_input", models["pytorch.safetensors"], []byte(fuzzCorpus["test.txt"]))
	seedArgs("FuzzBench", "one_token", models["tied_false.pth"], []byte("a"))
	for name, s := range map[string][3]string{
		"plain":    {fuzzCorpus["train.txt"], fuzzCorpus["valid.txt"], fuzzCorpus["test.txt"]},
		"empty":    {"", "a\n", "b\n"},
		"crlf_bom": {"\ufeffa b\r\nc\rd", "\x00 \u3000 e\n", "\u2028f\u0085g\n"},
		"bad_utf8": {"a\n", "b \xed\xa0\x80\n", "c\n"},
		"no_eol":   {"a b c", "d", "e"},
	} {
		seed("FuzzVocab", name, []byte(s[0]), []byte(s[1]), []byte(s[2]))
	}
}

// TestCPUProfileAtomic checks that --cpuprofile writes its file through
// atomicfile: complete after a run, failed or not, with no temporary file
// left beside it.
func TestCPUProfileAtomic(t *testing.T) {
	dir := t.TempDir()
	for i, args := range [][]string{
		{"vocab", "--data", corpusDir},
		{"inspect", "--model", filepath.Join(dir, "missing.pth")},
	} {
		prof := filepath.Join(dir, fmt.Sprintf("cpu%d.pprof", i))
		code, _, errs := run(t, append(args, "--cpuprofile", prof)...)
		if want := []int{0, 1}[i]; code != want {
			t.Fatalf("%v: exit %d, want %d: %s", args, code, want, errs)
		}
		b, err := os.ReadFile(prof)
		if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b { // a gzipped profile
			t.Fatalf("%v: profile %d bytes, %v", args, len(b), err)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("folder holds %d files, want the 2 profiles", len(ents))
	}
}
