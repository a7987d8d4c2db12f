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
		_, _, err := LoadPth(path, "")
		if !errors.Is(err, ErrQuantized) || !strings.HasPrefix(err.Error(), path+": ") {
			t.Errorf("%s: error %v, want %v", name, err, ErrQuantized)
		}
	}
	if _, p, err := LoadPth(filepath.Join(torchDir, "qckpt", "fp32.pth"), ""); err != nil || p.NHid != 16 || len(p.Layers) != 2 {
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
	_, err = ParamsFromStateDict(sd, "")
	if err == nil || err.Error() != `key "encoder.weight": int64 tensor, want floating point` {
		t.Errorf("error %v", err)
	}
}

// TestStateDictSizeIsFileSize checks that the counted size is the size of
// the file SavePth writes.
func TestStateDictSizeIsFileSize(t *testing.T) {
	_, p, err := LoadPth(filepath.Join("..", "testdata", "torch", "deep.pth"), "")
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

// TestTiedLoadsTied checks that a PyTorch-saved tied model (decoder.weight
// in encoder.weight's storage) loads tied: its parameters are counted once,
// as sum(p.numel() for p in model.parameters()) counts them, and saving it
// again writes one storage for both, as torch.save did: a file of the same
// size (not byte for byte: gen.py's model has other module metadata than
// the example's LSTMModel, which SavePth writes).
func TestTiedLoadsTied(t *testing.T) {
	for _, name := range []string{"tied.pth", "tied_legacy.pth"} {
		_, p, err := LoadPth(filepath.Join(torchDir, name), "")
		if err != nil {
			t.Fatal(err)
		}
		if !Tied(p) {
			t.Fatalf("%s: not tied", name)
		}
		// ntoken 291, ninp = nhid 16, 2 layers: the encoder, 2 layers of
		// W_ih, W_hh (64×16 each) and two biases of 64, the decoder bias.
		if want := 291*16 + 2*(2*64*16+2*64) + 291; CountParams(p) != want {
			t.Errorf("%s: %d parameters, want %d", name, CountParams(p), want)
		}
		out := filepath.Join(t.TempDir(), "tied.pth")
		if err := SavePth(out, p); err != nil {
			t.Fatal(err)
		}
		got, _ := os.Stat(out)
		want, _ := os.Stat(filepath.Join(torchDir, "tied.pth"))
		if got.Size() != want.Size() {
			t.Errorf("%s: saved again, %d bytes; torch.save wrote %d", name, got.Size(), want.Size())
		}
		sd, err := pth.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		if e, d := sd.Tensors["encoder.weight"], sd.Tensors["decoder.weight"]; e.Storage != d.Storage {
			t.Errorf("%s: saved again with the decoder in storage %q, the encoder in %q", name, d.Storage, e.Storage)
		}
	}
}
