package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestQuantizeSweep runs quantize --sweep --json on the deep fixture and
// checks the rows' keys, that bytes equal the size of the file
// quantize --scheme writes, and that the losses are lstmq eval's.
func TestQuantizeSweep(t *testing.T) {
	dir := t.TempDir()
	png := filepath.Join(dir, "frontier.png")
	code, out, errs := run(t, "quantize", "--model", deepPth, "--data", corpusDir, "--sweep", "--json",
		"--max-tokens", "300", "--threads", "2", "--chart", png)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	keys := []string{"bits_per_weight", "bytes", "kl", "loss", "loss_delta", "scheme", "top1"}
	byScheme := map[string]map[string]any{}
	for _, r := range rows {
		var got []string
		for k := range r {
			got = append(got, k)
		}
		slices.Sort(got)
		if !slices.Equal(got, keys) {
			t.Fatalf("row keys %v, want exactly %v", got, keys)
		}
		byScheme[r["scheme"].(string)] = r
	}
	if len(rows) < 35 || byScheme["pytorch"] == nil || byScheme["fp16"] == nil || byScheme["block32-act8-emb8"] == nil ||
		byScheme["q4_k-emb4"] == nil || byScheme["q2_k-emb4-gptq"] == nil {
		t.Fatalf("%d rows, schemes %v", len(rows), byScheme)
	}
	if st, err := os.Stat(png); err != nil || st.Size() < 1000 {
		t.Errorf("chart: %v", err)
	}
	for _, scheme := range []string{"pytorch", "channel-act8-emb8", "fp16", "bf16-emb32", "q4_k-emb4", "q4_1-emb4", "q3_k-emb4-gptq"} {
		r := byScheme[scheme]
		f := filepath.Join(dir, scheme+".safetensors")
		if code, _, errs := run(t, "quantize", "--model", deepPth, "--data", corpusDir, "--scheme", scheme, "--out", f); code != 0 {
			t.Fatalf("quantize --scheme %s: exit %d: %s", scheme, code, errs)
		}
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if int64(r["bytes"].(float64)) != st.Size() {
			t.Errorf("%s: sweep bytes %v, quantize --scheme writes %d", scheme, r["bytes"], st.Size())
		}
		// The file, evaluated as lstmq eval does, gives the sweep's loss.
		code, out, errs := run(t, "eval", "--model", f, "--data", corpusDir, "--max-tokens", "300", "--json", "--threads", "1")
		if code != 0 {
			t.Fatalf("eval %s: exit %d: %s", scheme, code, errs)
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(out), &ev); err != nil {
			t.Fatal(err)
		}
		if ev["loss"].(float64) != r["loss"].(float64) {
			t.Errorf("%s: sweep loss %v, eval of the file %v", scheme, r["loss"], ev["loss"])
		}
		if kl, top1 := r["kl"].(float64), r["top1"].(float64); !(kl >= 0 && kl < 0.05) || top1 < 0.75 || top1 > 1 {
			t.Errorf("%s: kl %v, top1 %v", scheme, kl, top1)
		}
	}
	// A 4-bit embedding and 4-bit weights are smaller than 8-bit ones.
	if a, b := byScheme["q4_k-emb4"]["bytes"].(float64), byScheme["q8_0-emb8"]["bytes"].(float64); a >= b {
		t.Errorf("q4_k-emb4 of %v bytes, q8_0-emb8 of %v", a, b)
	}
	// 16 bits per weight, and 32 per bias: more on this tiny model.
	if bpw := byScheme["fp16"]["bits_per_weight"].(float64); bpw < 16 || bpw > 17.5 {
		t.Errorf("fp16: %v bits per weight", bpw)
	}
}

func TestQuantizeSweepRefuses(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--sweep", "--out", filepath.Join(dir, "x.safetensors")}, "--sweep writes no --out"},
		{[]string{"--sweep", "--scheme", "channel"}, "drop --scheme"},
		{[]string{"--sweep", "--chart", filepath.Join(dir, "x.gif")}, "want a .png or .svg"},
		{[]string{"--chart", filepath.Join(dir, "x.png"), "--out", filepath.Join(dir, "y")}, "--chart needs --sweep"},
		{[]string{"--scheme", "int4", "--out", filepath.Join(dir, "y")}, "fp16 or bf16"},
		{[]string{"--scheme", "q4_2", "--out", filepath.Join(dir, "y")}, "q{b}_k"},
		{[]string{"--scheme", "q4_k,lm=q4_0", "--out", filepath.Join(dir, "y")}, "TARGET=WEIGHTS"},
		{[]string{"--target-size", "1", "--target-ratio", "0.1", "--out", filepath.Join(dir, "y")}, "not both"},
		{[]string{"--target-size", "1"}, "give --out"},
		{[]string{"--sweep", "--target-ratio", "0.1"}, "drop --target-size"},
	} {
		args := append([]string{"quantize", "--model", deepPth, "--data", corpusDir}, c.args...)
		code, _, errs := run(t, args...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q; want %q", c.args, code, errs, c.want)
		}
	}
}

// TestEvalCalibratedScheme: eval cannot calibrate; it says how to.
func TestEvalCalibratedScheme(t *testing.T) {
	code, _, errs := run(t, "eval", "--model", deepPth, "--data", corpusDir, "--quantize", "int8", "--scheme", "q4_k-gptq")
	if code != 2 || !strings.Contains(errs, "lstmq quantize --scheme q4_k-gptq --out") {
		t.Errorf("exit %d: %s", code, errs)
	}
}

// TestEvalQuantizeHalf: --quantize fp16 is --scheme fp16, and a conflicting
// --scheme is refused.
func TestEvalQuantizeHalf(t *testing.T) {
	evalLoss := func(args ...string) (float64, string) {
		t.Helper()
		code, out, errs := run(t, append([]string{"eval", "--model", deepPth, "--data", corpusDir, "--max-tokens", "200", "--json", "--threads", "1"}, args...)...)
		if code != 0 {
			return 0, errs
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(out), &ev); err != nil {
			t.Fatal(err)
		}
		if q := ev["quantization"].(string); !strings.HasPrefix(q, "fp16") && !strings.HasPrefix(q, "bf16") {
			t.Errorf("quantization %q", q)
		}
		return ev["loss"].(float64), ""
	}
	a, errs := evalLoss("--quantize", "fp16")
	b, errs2 := evalLoss("--quantize", "int8", "--scheme", "fp16")
	if errs != "" || errs2 != "" || a != b {
		t.Errorf("--quantize fp16: %v %s; --scheme fp16: %v %s", a, errs, b, errs2)
	}
	if _, errs := evalLoss("--quantize", "bf16", "--embedding", "int8"); errs != "" {
		t.Errorf("--quantize bf16 --embedding int8: %s", errs)
	}
	if _, errs := evalLoss("--quantize", "fp16", "--scheme", "channel"); !strings.Contains(errs, "conflicts") {
		t.Errorf("--quantize fp16 --scheme channel: %q", errs)
	}
	if _, errs := evalLoss("--scheme", "channel", "--quantize", "fp16"); !strings.Contains(errs, "conflicts") {
		t.Errorf("--scheme channel --quantize fp16: %q", errs)
	}
}

// TestQuantizeTarget: --target-size writes a file within the target, with
// its plan in the metadata; a target below 2-bit everywhere and too few
// calibration tokens are refused (a calibration split too short:
// quant.TestCalibration).
func TestQuantizeTarget(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "t.safetensors")
	code, stdout, errs := run(t, "quantize", "--model", deepPth, "--data", corpusDir, "--target-size", "0.031", "--out", out, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v: %q", err, stdout)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 31000 || res["target_bytes"].(float64) != 31000 || !strings.Contains(errs, "plan: ") {
		t.Errorf("file of %d bytes for a target of 31000; result %v; stderr %q", st.Size(), res, errs)
	}
	// The plan's scheme name makes the same file again.
	again := filepath.Join(dir, "again.safetensors")
	if code, _, errs := run(t, "quantize", "--model", deepPth, "--data", corpusDir, "--scheme", res["scheme"].(string), "--out", again); code != 0 {
		t.Fatalf("--scheme %s: exit %d: %s", res["scheme"], code, errs)
	}
	code, stdout, _ = run(t, "inspect", "--model", again)
	if code != 0 || !strings.Contains(stdout, res["scheme"].(string)) {
		t.Errorf("inspect of the plan's file: %s", stdout)
	}
	code, _, errs = run(t, "quantize", "--model", deepPth, "--data", corpusDir, "--target-size", "0.001", "--out", filepath.Join(dir, "small.safetensors"))
	if code != 1 || !strings.Contains(errs, "below the smallest reachable file") || !strings.Contains(errs, "2-bit") {
		t.Errorf("target too small: exit %d: %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "small.safetensors")); err == nil {
		t.Error("a refused target left a file")
	}
	code, _, errs = run(t, "quantize", "--model", deepPth, "--data", corpusDir, "--scheme", "q4_k-gptq", "--calib-tokens", "100", "--out", filepath.Join(dir, "c.safetensors"))
	if code != 2 || !strings.Contains(errs, "--calib-tokens must be at least 256") {
		t.Errorf("too few calibration tokens: exit %d: %s", code, errs)
	}
}
