package checkpoint

import (
	"errors"
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
		_, _, err := LoadPth(path, 0.5)
		if !errors.Is(err, ErrQuantized) || !strings.HasPrefix(err.Error(), path+": ") {
			t.Errorf("%s: error %v, want %v", name, err, ErrQuantized)
		}
	}
	if _, p, err := LoadPth(filepath.Join(torchDir, "qckpt", "fp32.pth"), 0.5); err != nil || p.NHid != 16 || len(p.Layers) != 2 {
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
