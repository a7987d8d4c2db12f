package quant

import (
	"github.com/lstmq/lstmq/model"
)

// SweepSchemes returns the schemes `lstmq quantize --sweep` measures, each
// under its canonical name: the int8 granularities (pytorch, channel,
// block32), each alone and with -act8, -emb8 and -act8-emb8; then fp16 and
// bf16, alone, with -emb8 and with -emb32; then the low-bit formats, with
// a 4-bit embedding (and an 8-bit one for q8_0, q6_k and q4_k), and q4_k,
// q3_k and q2_k fitted on calibration data (-imatrix, -gptq).
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
	for _, w := range []string{"q8_0", "q6_k", "q4_k"} {
		out = append(out, Scheme{Weights: w, Embedding8: true})
	}
	for _, w := range []string{"q8_0", "q6_k", "q5_k", "q4_k", "q4_1", "q4_0", "q3_k", "q2_k"} {
		out = append(out, Scheme{Weights: w, EmbeddingBits: 4})
	}
	for _, w := range []string{"q4_k", "q3_k", "q2_k"} {
		for _, c := range []string{"imatrix", "gptq"} {
			out = append(out, Scheme{Weights: w, EmbeddingBits: 4, Calib: c})
		}
	}
	return out
}

// SweepTargets are the file sizes, as fractions of the float32
// state_dict's, for which `lstmq quantize --sweep` adds the mixed plan
// ChoosePlan picks.
var SweepTargets = []float64{0.10, 0.12, 0.15, 0.18, 0.22}

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
