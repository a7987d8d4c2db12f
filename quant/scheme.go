package quant

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/lstmq/lstmq/model"
)

// Scheme selects how a model is quantized.
type Scheme struct {
	// Weights is the weights' scale granularity: "tensor" (one scale per
	// matrix, PyTorch's default), "channel" (one per output row) or
	// "blockN" (one per row and per N inputs, 8 ≤ N ≤ 4096).
	Weights string
	// Act8 quantizes activations to the full [0, 255] instead of [0, 127]
	// (PyTorch's reduce_range). The int8 kernel must be exact for it.
	Act8 bool
	// Embedding8 stores the embedding as row-wise uint8 with float qparams.
	Embedding8 bool
}

// Named schemes, for ParseScheme. A scheme is written as its weight
// granularity followed by modifiers, joined by '-':
//
//	pytorch | tensor | channel | block32 | block64 | block128 | blockN
//	  [-act8]  full 8-bit activations [0, 255]
//	  [-emb8]  row-wise 8-bit embedding
//
// "pytorch" is "tensor": quantize_dynamic's default (FBGEMM numerics).
// "act8" alone is "tensor-act8" (QNNPACK's numerics). Examples: "channel",
// "channel-act8", "channel-act8-emb8", "block32-act8".
var (
	PyTorch = Scheme{Weights: "tensor"}
)

// ParseScheme parses a scheme name (see Scheme); "" is "pytorch".
func ParseScheme(name string) (Scheme, error) {
	var s Scheme
	parts := strings.Split(strings.ToLower(strings.TrimSpace(name)), "-")
	switch w := parts[0]; {
	case w == "" || w == "pytorch" || w == "tensor":
		s.Weights = "tensor"
	case w == "channel":
		s.Weights = "channel"
	case w == "act8" || w == "emb8":
		s.Weights = "tensor"
		parts = append([]string{"tensor"}, parts...)
	case strings.HasPrefix(w, "block"):
		n, err := strconv.Atoi(w[len("block"):])
		if err != nil || n < 8 || n > 4096 {
			return Scheme{}, fmt.Errorf("quant: scheme %q: block size must be an integer in [8, 4096]", name)
		}
		s.Weights = w[:len("block")] + strconv.Itoa(n)
	default:
		return Scheme{}, fmt.Errorf("quant: unknown scheme %q (want pytorch, channel, blockN, with -act8 and -emb8)", name)
	}
	for _, m := range parts[1:] {
		switch m {
		case "act8":
			s.Act8 = true
		case "emb8":
			s.Embedding8 = true
		default:
			return Scheme{}, fmt.Errorf("quant: scheme %q: unknown modifier %q (want act8 or emb8)", name, m)
		}
	}
	return s, nil
}

// Block returns the block size of a "blockN" scheme, else 0.
func (s Scheme) Block() int {
	rest, ok := strings.CutPrefix(s.Weights, "block")
	if !ok {
		return 0
	}
	n, _ := strconv.Atoi(rest)
	return n
}

func (s Scheme) validate() error {
	switch {
	case s.Weights == "tensor" || s.Weights == "channel":
	case s.Block() >= 8 && s.Block() <= 4096 && s.Weights == "block"+strconv.Itoa(s.Block()):
	default:
		return fmt.Errorf("quant: unknown weight granularity %q", s.Weights)
	}
	return nil
}

// actMax is the activations' largest code.
func (s Scheme) actMax() int32 {
	if s.Act8 {
		return 255
	}
	return 127
}

// String returns the scheme's canonical name, which ParseScheme reads back.
func (s Scheme) String() string {
	name := s.Weights
	if s == PyTorch {
		return "pytorch"
	}
	if s.Act8 {
		name += "-act8"
	}
	if s.Embedding8 {
		name += "-emb8"
	}
	return name
}

// keepsRNNFloat reports whether s leaves a recurrent module of kind k in
// float32: scheme pytorch, like quantize_dynamic, quantizes nn.LSTM and
// nn.GRU but not nn.RNN (RNN_TANH, RNN_RELU); lstmq's other schemes
// quantize every kind.
func (s Scheme) keepsRNNFloat(k model.Kind) bool {
	return s == PyTorch && k.Module() == "RNN"
}
