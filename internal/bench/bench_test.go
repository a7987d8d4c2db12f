package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestGenRate parses the line lstmq generate prints on standard error.
func TestGenRate(t *testing.T) {
	m := genRate.FindStringSubmatch("| Generated 900/1000 words\ngenerated 1000 words in 1.63 s (613.0 words/s, fp32)\n")
	if m == nil || m[1] != "613.0" {
		t.Fatalf("got %q", m)
	}
}

func TestMedian(t *testing.T) {
	r := &Result{Runs: []Run{
		{Impl: "lstmq", Which: "fp32", Seconds: 3, Loss: 5, RSSMB: 10},
		{Impl: "lstmq", Which: "fp32", Seconds: 1, Loss: 5, RSSMB: 12},
		{Impl: "lstmq", Which: "fp32", Seconds: 2, Loss: 5, RSSMB: 11},
		{Impl: "ort", Which: "fp32", Seconds: 4},
		{Impl: "ort", Which: "fp32", Seconds: 6},
	}}
	if s, l, rss, ok := r.Median("lstmq", "fp32"); !ok || s != 2 || l != 5 || rss != 12 {
		t.Errorf("lstmq: %v %v %v %v", s, l, rss, ok)
	}
	if s, _, _, ok := r.Median("ort", "fp32"); !ok || s != 5 {
		t.Errorf("ort: %v", s)
	}
	if _, _, _, ok := r.Median("pytorch", "int8"); ok {
		t.Error("no runs, ok")
	}
}

func TestParseAnchors(t *testing.T) {
	out := `anchors: a progress line that went to stdout
{"impl": "pytorch", "which": "fp32", "kind": "GRU", "loss": 5.25, "seconds": 2.5, "tokens": 19999, "threads": 2, "batch_size": 1, "round": 1}

{"impl":"ort","which":"fp32","kind":"GRU","loss":5.2500001,"seconds":1.25,"tokens":19999,"threads":2,"batch_size":1, "round": 1}
`
	runs, err := ParseAnchors(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []Run{
		{Impl: "pytorch", Which: "fp32", Round: 1, Loss: 5.25, Seconds: 2.5, Tokens: 19999, Threads: 2, BatchSize: 1},
		{Impl: "ort", Which: "fp32", Round: 1, Loss: 5.2500001, Seconds: 1.25, Tokens: 19999, Threads: 2, BatchSize: 1},
	}
	if !reflect.DeepEqual(runs, want) {
		t.Errorf("got %+v\nwant %+v", runs, want)
	}
	for _, bad := range []string{
		`{"impl": "ort", "which": "fp32", "seconds": 1`,      // cut short
		`{"impl": "ort", "which": "fp32", "loss": 5}`,        // no seconds
		`{"which": "int8", "seconds": 1, "loss": 5}`,         // no impl
		`{"impl": "ort", "which": "fp32", "seconds": "one"}`, // wrong type
	} {
		if _, err := ParseAnchors(strings.NewReader("anchors: x\n" + bad + "\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%s: err %v, want one naming line 2", bad, err)
		}
	}
}

// fakeScript writes an executable shell script into dir.
func fakeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/usr/bin/env bash\nset -eu\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// fakeLstmq stands in for the lstmq binary: quantize writes --out, eval
// prints its JSON with the --threads and --batch-size it was given; every
// command line goes to $dir/lstmq.args.
const fakeLstmq = `echo "$*" >> "$(dirname "$0")/lstmq.args"
cmd=$1; shift
out= threads=0 batch=0
while [ $# -gt 0 ]; do
	case $1 in
	--out) out=$2; shift ;;
	--threads) threads=$2; shift ;;
	--batch-size) batch=$2; shift ;;
	esac
	shift
done
case $cmd in
quantize) printf '0123456789' > "$out" ;;
eval) printf '{"model":"m","loss":5.3,"tokens":57,"seconds":0.5,"quantization":"x","bptt":25,"batch_size":%d,"threads":%d}\n' "$batch" "$threads" ;;
*) echo "fake lstmq: $cmd" >&2; exit 2 ;;
esac
`

// fakeAnchors prints what bench/anchors/anchors.sh prints for a GRU (no ORT
// int8 row), at the threads and batch size it reads from $dir/reply, and
// records its command line in $dir/anchors.args.
const fakeAnchors = `here=$(dirname "$0")
echo "$*" >> "$here/anchors.args"
read threads batch < "$here/reply"
echo "anchors: round 1/1: pytorch fp32" >&2
for w in fp32:2.0:5.30 int8:4.0:5.31; do
	IFS=: read which sec loss <<< "$w"
	echo "{\"impl\": \"pytorch\", \"which\": \"$which\", \"kind\": \"GRU\", \"loss\": $loss, \"seconds\": $sec, \"tokens\": 57, \"threads\": $threads, \"batch_size\": $batch, \"round\": 1}"
done
echo "{\"impl\":\"ort\",\"which\":\"fp32\",\"kind\":\"GRU\",\"loss\":5.30,\"seconds\":1.0,\"tokens\":57,\"threads\":$threads,\"batch_size\":$batch, \"round\": 1}"
`

func TestCompareWithFakeAnchors(t *testing.T) {
	dir := t.TempDir()
	var log strings.Builder
	c := Config{
		Exe:          fakeScript(t, dir, "lstmq", fakeLstmq),
		Anchors:      fakeScript(t, dir, "anchors.sh", fakeAnchors),
		Model:        filepath.Join(dir, "gru.pth"),
		Nonlinearity: "relu",
		Kind:         "GRU",
		Arch:         "Embedding(291, 16), GRU(16, 16, num_layers=2), Linear(16, 291)",
		Data:         "corpus",
		MaxTokens:    20,
		Threads:      2,
		BatchSize:    3,
		Rounds:       2,
		Schemes:      []string{"pytorch"},
		WorkDir:      dir,
		Log:          &log,
	}
	for name, text := range map[string]string{"reply": "2 3\n", "gru.pth": strings.Repeat("x", 250000)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Compare(context.Background(), c)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if res.Kind != "GRU" || res.Threads != 2 || res.BatchSize != 3 || len(res.Runs) != 2*5 {
		t.Fatalf("kind %q threads %d batch %d, %d runs: %+v", res.Kind, res.Threads, res.BatchSize, len(res.Runs), res.Runs)
	}
	// Every row ran with the threads and batch size asked for.
	args, _ := os.ReadFile(filepath.Join(dir, "anchors.args"))
	if want := "--threads 2 --batch-size 3 --nonlinearity relu " + c.Model + " corpus 20\n"; string(args) != want+want {
		t.Errorf("anchors ran with\n%s want twice\n%s", args, want)
	}
	args, _ = os.ReadFile(filepath.Join(dir, "lstmq.args"))
	for _, want := range []string{
		"quantize --model " + c.Model + " --nonlinearity relu --data corpus --out " + filepath.Join(dir, "model.pytorch.safetensors") + " --scheme pytorch",
		"eval --model " + c.Model + " --nonlinearity relu --data corpus --threads 2 --batch-size 3 --max-tokens 20 --json",
	} {
		if !strings.Contains(string(args), want+"\n") {
			t.Errorf("lstmq ran with\n%s lacking\n%s", args, want)
		}
	}
	for _, r := range res.Runs {
		if r.Threads != 2 || r.BatchSize != 3 || r.Round < 1 || r.Round > 2 {
			t.Errorf("run %+v", r)
		}
	}

	var tab strings.Builder
	res.WriteTable(&tab, c)
	got := tab.String()
	t.Logf("table:\n%s", got)
	for _, want := range []string{
		"Model: GRU: Embedding(291, 16), GRU(16, 16, num_layers=2), Linear(16, 291)\n",
		"; 2 threads; batch 3: first 20 rows of batchify(test, 3); 2 round(s)",
		"| pytorch fp32 | – | 5.3000 | +0.0000 | 2.00 |",
		"| pytorch int8 | – | 5.3100 | +0.0100 | 4.00 |",
		"| ort fp32 | – | 5.3000 | +0.0000 | 1.00 |",
		// 0.5 s against ORT fp32 1.0 s and PyTorch fp32 2.0 s.
		"| lstmq fp32 | 0.2 | 5.3000 | +0.0000 | 0.50 | 0.50 | 0.25 | 1.00 |",
		// int8: no ORT int8 GRU, so against ORT fp32; PyTorch int8 4.0 s.
		"| lstmq int8 pytorch | 0.0 | 5.3000 | +0.0000 | 0.50 | 0.50 (fp32) | 0.12 | 1.00 |",
		"ONNX Runtime has no int8 kernels for a GRU",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "ort int8") {
		t.Errorf("table has an ort int8 row:\n%s", got)
	}

	// An anchors script that ignores --threads is refused.
	if err := os.WriteFile(filepath.Join(dir, "reply"), []byte("1 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Schemes = nil
	if _, err := Compare(context.Background(), c); err == nil || !strings.Contains(err.Error(), "1 thread(s) at batch 3; asked for 2 at batch 3") {
		t.Errorf("err %v", err)
	}
}

func TestDataLabel(t *testing.T) {
	for _, c := range []struct {
		rows, batch int
		want        string
	}{
		{20000, 1, "first 20000 test tokens, batch 1"},
		{0, 1, "all test tokens, batch 1"},
		{500, 16, "batch 16: first 500 rows of batchify(test, 16)"},
		{0, 4, "batch 4: all rows of batchify(test, 4)"},
	} {
		if got := dataLabel(c.rows, c.batch); got != c.want {
			t.Errorf("dataLabel(%d, %d) = %q, want %q", c.rows, c.batch, got, c.want)
		}
	}
}

// fakeScaling stands in for both lstmq and the anchors in
// TestCompareSettings: a run takes 4/threads seconds at batch 1 and
// 6/threads at batch 4 (2.67× the tokens/s, as it scores 4× the tokens).
const fakeScaling = `echo "$*" >> "$0.args"
cmd=$1
out= threads=0 batch=0
while [ $# -gt 0 ]; do
	case $1 in
	--out) out=$2; shift ;;
	--threads) threads=$2; shift ;;
	--batch-size) batch=$2; shift ;;
	esac
	shift
done
sec=$(( (batch == 1 ? 4 : 6) / threads ))
tok=$(( 100 * batch ))
case $cmd in
quantize) printf '0123456789' > "$out" ;;
eval) echo "{\"loss\":5.3,\"tokens\":$tok,\"seconds\":$sec,\"batch_size\":$batch,\"threads\":$threads}" ;;
*) echo "{\"impl\":\"ort\",\"which\":\"fp32\",\"loss\":5.3,\"seconds\":$(( sec * threads * 2 )),\"tokens\":$tok,\"threads\":$threads,\"batch_size\":$batch}" ;;
esac
`

// TestCompareSettings times two thread counts and two batch sizes in one
// run: every round runs every setting, each run records its own, and the
// tables give a section per setting and the tokens/s ratios between them.
func TestCompareSettings(t *testing.T) {
	dir := t.TempDir()
	exe := fakeScript(t, dir, "fake", fakeScaling)
	c := Config{
		Exe: exe, Anchors: exe, Model: filepath.Join(dir, "m.pth"), Kind: "LSTM", Data: "corpus", MaxTokens: 100,
		Threads: 1, BatchSize: 1, More: []Setting{{2, 1}, {1, 4}, {1, 1}}, Rounds: 3,
		Schemes: []string{"pytorch"}, WorkDir: dir,
	}
	if err := os.WriteFile(c.Model, []byte("model"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := c.Settings(); !slices.Equal(got, []Setting{{1, 1}, {2, 1}, {1, 4}}) {
		t.Fatalf("settings %v", got)
	}
	res, err := Compare(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	// 3 rounds × 3 settings × (fp32, pytorch, one anchor run).
	if len(res.Runs) != 27 {
		t.Fatalf("%d runs: %+v", len(res.Runs), res.Runs)
	}
	for _, st := range c.Settings() {
		want := 4.0 / float64(st.Threads)
		if st.BatchSize == 4 {
			want = 6.0 / float64(st.Threads)
		}
		if sec, _, _, ok := res.MedianAt("lstmq", "pytorch", st); !ok || sec != want {
			t.Errorf("%v: lstmq pytorch median %v s (%v), want %v", st, sec, ok, want)
		}
		if sec, _, _, ok := res.MedianAt("ort", "fp32", st); !ok || sec != 2*want*float64(st.Threads) {
			t.Errorf("%v: ort fp32 median %v s (%v)", st, sec, ok)
		}
	}
	var tab strings.Builder
	res.WriteTable(&tab, c)
	got := tab.String()
	t.Logf("table:\n%s", got)
	for _, want := range []string{
		"| **1 thread; first 100 test tokens, batch 1** |",
		"| **2 threads; first 100 test tokens, batch 1** |",
		"| **1 thread; batch 4: first 100 rows of batchify(test, 4)** |",
		// 2 threads: lstmq 2 s against ORT fp32 at 8 s.
		"| lstmq fp32 | 0.0 | 5.3000 | +0.0000 | 2.00 | 0.25 | – | 1.00 |",
		"| run | 1 thread, batch 1 | 2 threads, batch 1 | 1 thread, batch 4 |",
		// 100 tokens in 4 s, in 2 s, and 400 tokens in 6 s.
		"| lstmq int8 pytorch | 25 (1.00) | 50 (2.00) | 67 (2.67) |",
		"| ort fp32 | 12 (1.00) | 12 (1.00) | 33 (2.67) |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q", want)
		}
	}

	// Generation at each thread count, one line each, the second against
	// the first.
	c.GenWords = 1000
	res.Gen = map[string]float64{"lstmq int8": 100, "pytorch int8": 10, "lstmq int8, 2 threads": 150}
	tab.Reset()
	res.WriteTable(&tab, c)
	for _, want := range []string{
		"Batch-1 generation (1000 words, 1 thread), words/s: lstmq int8 100; pytorch int8 10; lstmq int8 / pytorch int8 = 10.0×\n",
		"Batch-1 generation (1000 words, 2 threads), words/s: lstmq int8 150; lstmq int8 × 1 thread = 1.50\n",
	} {
		if !strings.Contains(tab.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tab.String())
		}
	}
}
