package quant

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/lstmq/lstmq/internal/f16"
	"github.com/lstmq/lstmq/model"
)

// Scheme selects how a model is quantized.
type Scheme struct {
	// Weights is the int8 weights' scale granularity: "tensor" (one scale
	// per matrix, PyTorch's default), "channel" (one per output row) or
	// "blockN" (one per row and per N inputs, 8 ≤ N ≤ 4096); or a 16-bit
	// float format, "fp16" or "bf16" (weights rounded to it, products in
	// float32: half.go).
	Weights string
	// Act8 quantizes activations to the full [0, 255] instead of [0, 127]
	// (PyTorch's reduce_range). The int8 kernel must be exact for it.
	// Int8 schemes only.
	Act8 bool
	// Embedding8 stores the embedding as row-wise uint8 with float qparams.
	Embedding8 bool
	// Embedding32 keeps the embedding in float32 under a 16-bit scheme
	// (which otherwise stores it in its format too), as
	// quantize_dynamic(dtype=torch.float16) does. 16-bit schemes only.
	Embedding32 bool
}

// Named schemes, for ParseScheme. A scheme is written as its weight
// granularity followed by modifiers, joined by '-':
//
//	pytorch | tensor | channel | block32 | block64 | block128 | blockN
//	  [-act8]  full 8-bit activations [0, 255]
//	  [-emb8]  row-wise 8-bit embedding
//	fp16 | bf16   16-bit float weights, embedding included
//	  [-emb8]  row-wise 8-bit embedding
//	  [-emb32] float32 embedding (quantize_dynamic(dtype=torch.float16)'s)
//
// "pytorch" is "tensor": quantize_dynamic's default (FBGEMM numerics).
// "act8" alone is "tensor-act8" (QNNPACK's numerics). Examples: "channel",
// "channel-act8", "channel-act8-emb8", "block32-act8".
var (
	PyTorch = Scheme{Weights: "tensor"}
)

// SchemeNames describes the scheme names ParseScheme reads, for messages.
const SchemeNames = "pytorch (= tensor), channel, blockN (N in [8, 4096], e.g. block32), each with -act8 and/or -emb8; fp16 or bf16, with -emb8 or -emb32"

// ParseScheme parses a scheme name (see Scheme); "" is "pytorch".
func ParseScheme(name string) (Scheme, error) {
	var s Scheme
	parts := strings.Split(strings.ToLower(strings.TrimSpace(name)), "-")
	switch w := parts[0]; {
	case w == "" || w == "pytorch" || w == "tensor":
		s.Weights = "tensor"
	case w == "channel" || w == "fp16" || w == "bf16":
		s.Weights = w
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
		return Scheme{}, fmt.Errorf("quant: unknown scheme %q; the schemes are %s", name, SchemeNames)
	}
	_, half := s.Half()
	for _, m := range parts[1:] {
		switch {
		case m == "act8" && !half:
			s.Act8 = true
		case m == "emb8":
			s.Embedding8 = true
		case m == "emb32" && half:
			s.Embedding32 = true
		case m == "act8" || m == "emb32":
			return Scheme{}, fmt.Errorf("quant: scheme %q: modifier %q does not apply to %s weights; the schemes are %s", name, m, s.Weights, SchemeNames)
		default:
			return Scheme{}, fmt.Errorf("quant: scheme %q: unknown modifier %q; the schemes are %s", name, m, SchemeNames)
		}
	}
	if s.Embedding8 && s.Embedding32 {
		return Scheme{}, fmt.Errorf("quant: scheme %q: -emb8 and -emb32 exclude each other", name)
	}
	return s, nil
}

// Half returns the 16-bit float format of an fp16 or bf16 scheme, and
// whether s is one.
func (s Scheme) Half() (f16.Format, bool) {
	switch s.Weights {
	case "fp16":
		return f16.FP16, true
	case "bf16":
		return f16.BF16, true
	}
	return 0, false
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
	_, half := s.Half()
	switch {
	case half:
		if s.Act8 {
			return fmt.Errorf("quant: scheme %s: act8 applies to int8 weights only", s.Weights)
		}
		if s.Embedding8 && s.Embedding32 {
			return fmt.Errorf("quant: scheme %s: Embedding8 and Embedding32 exclude each other", s.Weights)
		}
		return nil
	case s.Weights == "tensor" || s.Weights == "channel":
	case s.Block() >= 8 && s.Block() <= 4096 && s.Weights == "block"+strconv.Itoa(s.Block()):
	default:
		return fmt.Errorf("quant: unknown weight granularity %q", s.Weights)
	}
	if s.Embedding32 {
		return fmt.Errorf("quant: scheme %s: Embedding32 applies to 16-bit schemes only (int8 ones keep a float32 embedding)", s.Weights)
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
	if s.Embedding32 {
		name += "-emb32"
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
