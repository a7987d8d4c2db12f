package checkpoint

import (
	"github.com/lstmq/lstmq/model"
	"github.com/lstmq/lstmq/pth"
)

// Tied reports whether the decoder's weight is the encoder's (weight tying).
func Tied(p *model.Params) bool {
	return len(p.DecoderW) > 0 && len(p.DecoderW) == len(p.Encoder) && &p.DecoderW[0] == &p.Encoder[0]
}

// CountParams returns the number of parameters, counting a tied weight
// once, as sum(p.numel() for p in model.parameters()) does.
func CountParams(p *model.Params) int {
	n := len(p.Encoder) + len(p.DecoderB)
	if !Tied(p) {
		n += len(p.DecoderW)
	}
	for _, l := range p.Layers {
		n += len(l.Wih) + len(l.Whh) + len(l.Bih) + len(l.Bhh)
	}
	return n
}

// StateDict returns p as state_dict keys and float32 tensors, in the order
// PyTorch's RNNModel.state_dict() lists them. A tied decoder weight shares
// the encoder's storage.
func StateDict(p *model.Params) ([]string, map[string]*pth.Tensor) {
	return Layout{}.stateDict(p)
}

// Layout is what torch.save needs, besides the parameters, to write a
// state_dict file byte for byte: the format, the state dict's _metadata
// and the names of the storages. The zero Layout is that of PyTorch 1.13's
// torch.save(model.state_dict(), path) for the example's RNNModel: a zip
// archive, pth.LSTMModelMetadata().
type Layout struct {
	// Legacy selects the format torch.save(…,
	// _use_new_zipfile_serialization=False) writes.
	Legacy bool
	// Metadata is the state dict's _metadata; nil for the example's
	// RNNModel's, pth.LSTMModelMetadata().
	Metadata []pth.ModuleVersion
	// Storages names the storage of each key, as the file did (a legacy
	// file names a storage by its address in memory, and its size depends
	// on the names' lengths); a key it does not name has its own.
	Storages map[string]string
}

// LayoutOf returns the layout of the file sd was read from, for writing
// (or sizing) parameters read from it as PyTorch 1.13 wrote it. For a
// whole-module checkpoint it is that of torch.save(model.state_dict())
// in the file's format.
func LayoutOf(sd *pth.StateDict) Layout {
	l := Layout{Legacy: sd.Legacy, Metadata: sd.Metadata}
	if sd.Legacy {
		l.Storages = map[string]string{}
		for k, t := range sd.Tensors {
			l.Storages[k] = t.Storage
		}
	}
	return l
}

// Save writes p as a PyTorch state_dict file of layout l. For parameters
// read from a file of PyTorch 1.13 with LayoutOf, saved to a file of the
// same base name (which names a zip archive's folder), it writes the
// same bytes.
func (l Layout) Save(path string, p *model.Params) error {
	keys, ts := l.stateDict(p)
	return pth.SaveWith(path, keys, ts, l.options())
}

// Size returns the size in bytes of the file Save(path, p) would write,
// without writing it.
func (l Layout) Size(path string, p *model.Params) (int64, error) {
	keys, ts := l.stateDict(p)
	return pth.SizeWith(path, keys, ts, l.options())
}

func (l Layout) options() pth.SaveOptions {
	meta := l.Metadata
	if meta == nil {
		meta = pth.LSTMModelMetadata()
	}
	return pth.SaveOptions{Metadata: meta, Legacy: l.Legacy}
}

func (l Layout) stateDict(p *model.Params) ([]string, map[string]*pth.Tensor) {
	var keys []string
	ts := map[string]*pth.Tensor{}
	tied := Tied(p)
	for _, t := range p.Tensors() {
		storage := t.Key
		if t.Key == "decoder.weight" && tied {
			storage = "encoder.weight"
		}
		if s, ok := l.Storages[storage]; ok {
			storage = s
		}
		keys = append(keys, t.Key)
		ts[t.Key] = &pth.Tensor{Shape: t.Shape, Data: *t.Data, DType: "float32", Storage: storage}
	}
	return keys, ts
}

// SavePth writes p as a PyTorch state_dict file (zip format) that
// torch.load and load_state_dict accept: byte for byte what PyTorch 1.13's
// torch.save(model.state_dict(), path) writes for the example's RNNModel
// (the tutorial's LSTMModel) of any kind: Layout{}.Save.
func SavePth(path string, p *model.Params) error {
	return Layout{}.Save(path, p)
}

// StateDictSize returns the size in bytes of p saved as a state_dict, as
// the tutorial's print_size_of_model measures it (with PyTorch 1.13's
// format; PyTorch 2.x adds two small entries, 427 bytes more for the
// tutorial's model: 113.944064 MB where 1.13 writes 113.943637). Nothing
// is written: the bytes are counted.
func StateDictSize(p *model.Params) (int64, error) {
	// print_size_of_model saves to "temp.p": the archive's folder is "temp".
	return StateDictSizeAs(p, "temp.p")
}

// StateDictSizeAs is StateDictSize for a file saved at path: the zip
// archive's folder, and so the file's size, follows the file's name. For
// a state_dict that PyTorch 1.13 wrote at path from the example's model,
// it is the file's size. Layout{}.Size; LayoutOf(sd).Size gives the size
// of a file of any layout.
func StateDictSizeAs(p *model.Params, path string) (int64, error) {
	return Layout{}.Size(path, p)
}
