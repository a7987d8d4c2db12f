package cli

import "github.com/spf13/pflag"

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
type quantFlags struct{ quantize, scheme, embedding string }

// flagQuant defines --scheme and --embedding, and --quantize when
// withQuantize (quantize always quantizes).
func flagQuant(f *pflag.FlagSet, q *quantFlags, withQuantize bool) {
	if withQuantize {
		f.StringVar(&q.quantize, "quantize", "", "int8: quantize the model dynamically first")
	}
	f.StringVar(&q.scheme, "scheme", "pytorch", "quantization scheme (pytorch, channel, blockN, …-act8, …-emb8; see lstmq quantize --help)")
	f.StringVar(&q.embedding, "embedding", "fp32", "embedding: fp32, or int8 (row-wise scale and offset)")
}
