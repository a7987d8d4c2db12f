package cli

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var rnnDir = filepath.Join(torchDir, "rnn")

// rnnManifest is the part of testdata/torch/rnn/rnn.json these tests read.
type rnnManifest struct {
	Models map[string]struct {
		Type            string  `json:"type"`
		Nonlinearity    string  `json:"nonlinearity"`
		Params          int     `json:"params"`
		Repr            string  `json:"repr"`
		TestLoss        float64 `json:"test_loss"`
		PyTorchInt8Loss float64 `json:"pytorch_int8_loss"`
	} `json:"models"`
	Refused map[string]string `json:"refused"`
}

func readRNNManifest(t *testing.T) *rnnManifest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(rnnDir, "rnn.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m rnnManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

// TestInspectRNNKinds: inspect prints each kind as PyTorch does, with
// PyTorch's unique-parameter count, and a state_dict's size is the file's.
func TestInspectRNNKinds(t *testing.T) {
	for stem, want := range readRNNManifest(t).Models {
		path := filepath.Join(rnnDir, stem+".pth")
		code, out, errs := run(t, "inspect", "--model", path, "--dropout", "0.2", "--nonlinearity", want.Nonlinearity)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", stem, code, errs)
		}
		rnnLine := strings.Split(want.Repr, "\n")[3]
		if want.Type == "RNN_RELU" {
			rnnLine = strings.Replace(rnnLine, "dropout=0.2)", "dropout=0.2, nonlinearity='relu')", 1)
		}
		if !strings.Contains(out, rnnLine+"\n") {
			t.Errorf("%s: no line %q in\n%s", stem, rnnLine, out)
		}
		if !strings.Contains(out, "Parameters: "+strconv.Itoa(want.Params)+"\n") {
			t.Errorf("%s: want Parameters: %d in\n%s", stem, want.Params, out)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if mb := strconv.FormatFloat(float64(st.Size())/1e6, 'g', -1, 64); !strings.Contains(out, "Size (MB): "+mb+" ") {
			t.Errorf("%s: want Size (MB): %s (the file's) in\n%s", stem, mb, out)
		}
	}
}

// TestEvalRNNKinds: eval gives PyTorch's fp32 and int8 (scheme pytorch)
// losses for every kind, from the state_dict and from torch.save(model).
func TestEvalRNNKinds(t *testing.T) {
	for stem, want := range readRNNManifest(t).Models {
		for _, file := range []string{stem + ".pth", stem + ".pt"} {
			for _, q := range []string{"", "int8"} {
				args := []string{"eval", "--model", filepath.Join(rnnDir, file), "--data", corpusDir, "--json", "--threads", "1"}
				if strings.HasSuffix(file, ".pth") {
					args = append(args, "--nonlinearity", want.Nonlinearity)
				}
				wantLoss, tol := want.TestLoss, 1e-5
				if q != "" {
					args = append(args, "--quantize", q)
					wantLoss, tol = want.PyTorchInt8Loss, 1e-6
				}
				code, out, errs := run(t, args...)
				if code != 0 {
					t.Fatalf("%s %s: exit %d: %s", file, q, code, errs)
				}
				var r struct{ Loss float64 }
				if err := json.Unmarshal([]byte(out), &r); err != nil {
					t.Fatalf("%v: %q", err, out)
				}
				if math.Abs(r.Loss-wantLoss) > tol {
					t.Errorf("%s %s: loss %.8f, PyTorch %.8f", file, q, r.Loss, wantLoss)
				}
			}
		}
	}
}

// TestRNNRefusals: files that are not the example's model are refused,
// naming what was found; a nonlinearity that contradicts the file's is an
// error.
func TestRNNRefusals(t *testing.T) {
	for file, substr := range readRNNManifest(t).Refused {
		code, _, errs := run(t, "inspect", "--model", filepath.Join(rnnDir, file))
		if code == 0 || !strings.Contains(errs, substr) || !strings.Contains(errs, filepath.Base(file)) {
			t.Errorf("%s: exit %d, stderr %q; want an error naming the file and %q", file, code, errs, substr)
		}
	}
	code, _, errs := run(t, "inspect", "--model", filepath.Join(rnnDir, "rnn_tanh.pt"), "--nonlinearity", "relu")
	if code == 0 || !strings.Contains(errs, "RNN_TANH") {
		t.Errorf("relu over a tanh module: exit %d, %q", code, errs)
	}
	code, _, errs = run(t, "inspect", "--model", filepath.Join(rnnDir, "rnn_tanh.pth"), "--nonlinearity", "sigmoid")
	if code == 0 || !strings.Contains(errs, "sigmoid") {
		t.Errorf("--nonlinearity sigmoid: exit %d, %q", code, errs)
	}
}
