package modelfile

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/lstmq/lstmq/checkpoint"
	"github.com/lstmq/lstmq/model"
	"github.com/lstmq/lstmq/pth"
	"github.com/lstmq/lstmq/quant"
)

// File is a model read from a file, with what the file told about it.
type File struct {
	Path   string
	Model  *model.Model
	Params *model.Params // float32 parameters; nil for a quantized file
	Vocab  []string      // the file's own vocabulary, if it has one
	Scheme string        // "fp32", or the quantization scheme
	// RecordsDropout is true when the file records the dropout that
	// print(model) shows (lstmq's .safetensors); a .pth does not.
	RecordsDropout bool
	// Layout is a float32 .pth's: its format, _metadata and storage
	// names, with which Params save (or are sized) as PyTorch wrote them;
	// the zero Layout for other files.
	Layout checkpoint.Layout
}

// Read reads the model at path, telling the formats apart by their first
// bytes. nonlinearity ("tanh", "relu", or "" for the example's tanh) is
// that of a plain RNN in a state_dict, which does not record it (see
// checkpoint.ParamsFromStateDict). A quantized .pth runs PyTorch's own int8 weights and scales, with
// activations as FBGEMM and oneDNN quantize them (reduce_range: codes
// [0, 127]). A state_dict does not record the model's dropout: its
// Model.Dropout is checkpoint.DefaultDropout, the tutorial's, and
// RecordsDropout is false; the example's whole-module files do record it.
func Read(path, nonlinearity string) (*File, error) {
	st, err := isSafetensors(path)
	if err != nil {
		return nil, err
	}
	if st {
		m, vocab, meta, err := quant.LoadMeta(path)
		if err != nil {
			return nil, err
		}
		// quant.LoadMeta reads each tensor from the file and packs the
		// int8 weights, leaving the unpacked copies as garbage: hand it
		// back to the OS before the corpus and the evaluation allocate on
		// top of it (peak RSS of eval with a 30 MB file: 60 → 57 MB). Not
		// for a .pth, whose reader leaves little garbage: a collection
		// here would only raise the next heap goal.
		debug.FreeOSMemory()
		if k := m.Kind(); nonlinearity != "" && k.Module() == "RNN" && nonlinearity != k.Nonlinearity() {
			return nil, fmt.Errorf("%s: nonlinearity %q, but the file's model is %s", path, nonlinearity, k)
		}
		return &File{Path: path, Model: m, Vocab: vocab, Scheme: meta["scheme"], RecordsDropout: true}, nil
	}
	sd, err := pth.Load(path)
	if err != nil {
		return nil, err
	}
	if sd.Quantized() {
		m, scheme, err := quant.FromStateDict(sd, 127)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return &File{Path: path, Model: m, Scheme: scheme}, nil
	}
	p, err := checkpoint.ParamsFromStateDict(sd, nonlinearity)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &File{Path: path, Model: model.New(*p, checkpoint.Dropout(sd)), Params: p, Scheme: "fp32",
		RecordsDropout: sd.Module != nil, Layout: checkpoint.LayoutOf(sd)}, nil
}

// isSafetensors reports whether path starts as a safetensors file does: an
// 8-byte little-endian header length, then the JSON header's '{'.
func isSafetensors(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var head [9]byte
	n, _ := io.ReadFull(f, head[:])
	return n == 9 && head[8] == '{', nil
}

// Quantize returns the model of f's float32 parameters quantized with
// scheme s. It fails for a file that is already quantized.
func (f *File) Quantize(s quant.Scheme) (*model.Model, error) {
	if f.Params == nil {
		return nil, fmt.Errorf("%s: already quantized (%s); give the float32 .pth to quantize it again", f.Path, f.Scheme)
	}
	m, err := quant.Quantize(f.Params, s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	return m, nil
}
