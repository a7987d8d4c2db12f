package modelfile

import (
	"path/filepath"
	"testing"

	"github.com/lstmq/lstmq/quant"
)

var torchDir = filepath.Join("..", "..", "testdata", "torch")

// TestReadFormats reads one file of each format and checks what Read says
// about it: the scheme, the float32 parameters, the vocabulary and whether
// the file records the dropout.
func TestReadFormats(t *testing.T) {
	fp, err := Read(filepath.Join(torchDir, "deep.pth"), "")
	if err != nil {
		t.Fatal(err)
	}
	if fp.Scheme != "fp32" || fp.Params == nil || fp.Vocab != nil || fp.RecordsDropout || fp.Model.Tokens() != 291 {
		t.Errorf("deep.pth: scheme %q, params %v, vocab %v, records dropout %v, %d tokens", fp.Scheme, fp.Params != nil, fp.Vocab, fp.RecordsDropout, fp.Model.Tokens())
	}
	q, err := Read(filepath.Join(torchDir, "qckpt", "tiny.pth"), "")
	if err != nil {
		t.Fatal(err)
	}
	if q.Scheme != "pytorch" || q.Params != nil {
		t.Errorf("qckpt/tiny.pth: scheme %q, params %v", q.Scheme, q.Params != nil)
	}
	if _, err := q.Quantize(quant.PyTorch); err == nil {
		t.Error("quantizing a quantized file: no error")
	}
	m, err := fp.Quantize(quant.PyTorch)
	if err != nil {
		t.Fatal(err)
	}
	vocab := make([]string, 291)
	for i := range vocab {
		vocab[i] = string(rune('a'+i%26)) + string(rune('A'+i/26))
	}
	path := filepath.Join(t.TempDir(), "q.safetensors")
	if err := quant.Save(path, m, vocab, nil); err != nil {
		t.Fatal(err)
	}
	st, err := Read(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if st.Scheme != "pytorch" || !st.RecordsDropout || len(st.Vocab) != 291 || st.Vocab[30] != vocab[30] {
		t.Errorf("q.safetensors: scheme %q, records dropout %v, %d words", st.Scheme, st.RecordsDropout, len(st.Vocab))
	}
}
