package quant

import (
	"github.com/lstmq/lstmq/model"
)

// SweepSchemes returns the schemes `lstmq quantize --sweep` measures, each
// under its canonical name: the int8 granularities (pytorch, channel,
// block32), each alone and with -act8, -emb8 and -act8-emb8; then fp16 and
// bf16, alone, with -emb8 and with -emb32.
func SweepSchemes() []Scheme {
	var out []Scheme
	for _, w := range []string{"tensor", "channel", "block32"} {
		for _, mod := range []Scheme{{}, {Act8: true}, {Embedding8: true}, {Act8: true, Embedding8: true}} {
			mod.Weights = w
			out = append(out, mod)
		}
	}
	for _, w := range []string{"fp16", "bf16"} {
		out = append(out, Scheme{Weights: w}, Scheme{Weights: w, Embedding8: true}, Scheme{Weights: w, Embedding32: true})
	}
	return out
}

// TensorBytes returns the bytes of the tensors Save writes for m: the file
// without its header and metadata (the vocabulary among them).
func TensorBytes(m *model.Model) (int64, error) {
	ts, _, err := encodeModel(m, nil)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, t := range ts {
		n += int64(len(t.Data))
	}
	return n, nil
}
