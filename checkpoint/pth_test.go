package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lstmq/lstmq/pth"
)

var torchDir = filepath.Join("..", "testdata", "torch")

// TestQuantizedStateDict checks that a quantize_dynamic state dict is
// recognised as such, not read as float32 parameters.
func TestQuantizedStateDict(t *testing.T) {
	for _, name := range []string{"quantized.pth", "qckpt/onednn.pth", "qckpt/onednn_channel.pth"} {
		path := filepath.Join(torchDir, name)
		_, _, err := LoadPth(path)
		if !errors.Is(err, ErrQuantized) || !strings.HasPrefix(err.Error(), path+": ") {
			t.Errorf("%s: error %v, want %v", name, err, ErrQuantized)
		}
	}
	if _, p, err := LoadPth(filepath.Join(torchDir, "qckpt", "fp32.pth")); err != nil || p.NHid != 16 || len(p.Layers) != 2 {
		t.Errorf("fp32.pth: %v", err)
	}
}

// TestIntegerTensor checks that a model key holding an int64 tensor (which
// pth reads into Tensor.Int64) is an error, not an empty float matrix.
func TestIntegerTensor(t *testing.T) {
	sd, err := pth.Load(filepath.Join(torchDir, "qckpt", "fp32.pth"))
	if err != nil {
		t.Fatal(err)
	}
	enc := sd.Tensors["encoder.weight"]
	n := enc.NumElements()
	enc.Data, enc.DType, enc.Int64 = nil, "int64", make([]int64, n)
	_, err = ParamsFromStateDict(sd)
	if err == nil || err.Error() != `key "encoder.weight": int64 tensor, want floating point` {
		t.Errorf("error %v", err)
	}
}

// TestStateDictSizeIsFileSize checks that the counted size is the size of
// the file SavePth writes.
func TestStateDictSizeIsFileSize(t *testing.T) {
	_, p, err := LoadPth(filepath.Join("..", "testdata", "torch", "deep.pth"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "temp.p")
	if err := SavePth(path, p); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := StateDictSize(p)
	if err != nil || n != st.Size() {
		t.Errorf("StateDictSize = %d, %v; the file has %d bytes", n, err, st.Size())
	}
}
