package cli

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/lstmq/lstmq/quant"
)

// The flags that several commands share, each defined here once.

// flagModel defines --model and --nonlinearity, which a state_dict of a
// plain RNN needs.
func flagModel(f *pflag.FlagSet, p, nonlinearity *string) {
	f.StringVar(p, "model", "", "model file: a PyTorch state_dict (.pth, float32 or quantize_dynamic's; LSTM, GRU or RNN), the example's torch.save(model) file, or an lstmq .safetensors file")
	f.StringVar(nonlinearity, "nonlinearity", "", "a plain RNN's nonlinearity, tanh or relu (a state_dict does not record it; default tanh, as the example's)")
}

func flagData(f *pflag.FlagSet, p *string) {
	f.StringVar(p, "data", "", "corpus folder with train.txt, valid.txt, test.txt (the model's dictionary comes from them)")
}

// flagDropout defines --dropout, the p that print(model) shows for a .pth
// (a state_dict does not record it).
func flagDropout(f *pflag.FlagSet, p *float64) {
	f.Float64Var(p, "dropout", 0.5, "dropout printed in the model's description (a state_dict does not record it)")
}

// quantFlags are --quantize, --scheme and --embedding.
type quantFlags struct {
	quantize, scheme, embedding string

	// half is the 16-bit format --quantize named ("fp16", "bf16"), which
	// stands for --quantize int8 --scheme half; schemeSet records an
	// explicit --scheme, which must then agree.
	half      string
	schemeSet bool
}

// flagQuant defines --scheme and --embedding, and --quantize when
// withQuantize (quantize always quantizes).
func flagQuant(f *pflag.FlagSet, q *quantFlags, withQuantize bool) {
	if withQuantize {
		f.Var(quantizeValue{q}, "quantize", "int8: quantize the model dynamically first (with --scheme); fp16 or bf16: 16-bit float weights (--scheme fp16, bf16)")
	}
	q.scheme = "pytorch"
	f.Var(schemeValue{q}, "scheme", "quantization scheme (pytorch, channel, blockN, …-act8, …-emb8; fp16, bf16; see lstmq quantize --help)")
	f.StringVar(&q.embedding, "embedding", "fp32", "embedding: fp32, or int8 (row-wise scale and offset)")
}

// quantizeValue is --quantize: "int8", or "fp16" / "bf16", which also set
// the scheme.
type quantizeValue struct{ q *quantFlags }

func (v quantizeValue) String() string { return v.q.quantize }
func (v quantizeValue) Type() string   { return "string" }

func (v quantizeValue) Set(s string) error {
	switch s {
	case "fp16", "bf16":
		if v.q.schemeSet && !sameFormat(v.q.scheme, s) {
			return fmt.Errorf("--quantize %s conflicts with --scheme %s", s, v.q.scheme)
		}
		v.q.quantize, v.q.half = "int8", s
		if !v.q.schemeSet {
			v.q.scheme = s
		}
	case "", "int8":
		v.q.quantize, v.q.half = s, ""
	default:
		return fmt.Errorf("--quantize must be int8, fp16 or bf16, got %q", s)
	}
	return nil
}

// schemeValue is --scheme.
type schemeValue struct{ q *quantFlags }

func (v schemeValue) String() string { return v.q.scheme }
func (v schemeValue) Type() string   { return "string" }

func (v schemeValue) Set(s string) error {
	if v.q.half != "" && !sameFormat(s, v.q.half) {
		return fmt.Errorf("--scheme %s conflicts with --quantize %s", s, v.q.half)
	}
	v.q.scheme, v.q.schemeSet = s, true
	return nil
}

// sameFormat reports whether scheme is a scheme of the 16-bit format half
// (fp16, fp16-emb8, …).
func sameFormat(scheme, half string) bool {
	s, err := quant.ParseScheme(scheme)
	return err == nil && s.Weights == half
}
