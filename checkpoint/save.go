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
	var keys []string
	ts := map[string]*pth.Tensor{}
	tied := Tied(p)
	for _, t := range p.Tensors() {
		storage := t.Key
		if t.Key == "decoder.weight" && tied {
			storage = "encoder.weight"
		}
		keys = append(keys, t.Key)
		ts[t.Key] = &pth.Tensor{Shape: t.Shape, Data: *t.Data, DType: "float32", Storage: storage}
	}
	return keys, ts
}

// SavePth writes p as a PyTorch state_dict file (zip format) that
// torch.load and load_state_dict accept: byte for byte what PyTorch 1.13's
// torch.save(model.state_dict(), path) writes for the example's RNNModel
// (the tutorial's LSTMModel) of any kind.
func SavePth(path string, p *model.Params) error {
	keys, ts := StateDict(p)
	return pth.SaveWith(path, keys, ts, pth.SaveOptions{Metadata: pth.LSTMModelMetadata()})
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
// it is the file's size.
func StateDictSizeAs(p *model.Params, path string) (int64, error) {
	keys, ts := StateDict(p)
	return pth.SizeWith(path, keys, ts, pth.SaveOptions{Metadata: pth.LSTMModelMetadata()})
}
