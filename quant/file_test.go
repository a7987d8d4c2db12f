package quant

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/torch/quant/model_pytorch.safetensors")

// TestCommittedModelFile saves the PyTorch fixture model quantized with
// scheme "pytorch" and compares the bytes with the committed file, whose
// every tensor TestCommittedModelFileMatchesPyTorch compares with PyTorch's
// (and testdata/torch/check_safetensors.py reads with json and struct
// alone). Run with -update to rewrite it.
func TestCommittedModelFile(t *testing.T) {
	mf, p := loadModelFixture(t)
	m, err := Quantize(p, PyTorch)
	if err != nil {
		t.Fatal(err)
	}
	vocab := make([]string, mf.NToken)
	for i := range vocab {
		vocab[i] = "w" + string(rune('A'+i%26)) + string(rune('a'+i/26))
	}
	path := filepath.Join(fixtureDir, "model_pytorch.safetensors")
	tmp := filepath.Join(t.TempDir(), "m.safetensors")
	if err := Save(tmp, m, vocab, map[string]string{"source": "testdata/torch/gen_quant.py"}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(tmp)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Save output differs from %s (format change? rerun with -update and check_safetensors.py)", path)
	}
	m2, v2, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if m2.String() != m.String() || len(v2) != mf.NToken {
		t.Errorf("loaded %s with %d words", m2, len(v2))
	}
}

// FuzzLoad feeds damaged model files to the loader: it must return an
// error or a model that runs, never panic. The seeds are whole model files
// (kilobytes), whose minimization dominates a run: use
// go test -fuzz FuzzLoad -fuzzminimizetime 1x.
func FuzzLoad(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join(fixtureDir, "model_pytorch.safetensors")); err == nil {
		f.Add(b)
	}
	r := rand.New(rand.NewPCG(1, 1))
	p := randomParams(r, 7, 3, 2, 2)
	for _, name := range []string{"block8-act8-emb8", "channel"} {
		s, _ := ParseScheme(name)
		m, _ := Quantize(p, s)
		path := filepath.Join(f.TempDir(), name)
		if err := Save(path, m, nil, nil); err != nil {
			f.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, _, _, err := parseModel(b, "fuzz")
		if err != nil {
			return
		}
		ids := []int32{0, int32(m.Tokens() - 1)}
		logits := make([]float32, 2*m.Tokens())
		m.Forward(nil, logits, ids, 1, 2, m.NewState(2))
	})
}
