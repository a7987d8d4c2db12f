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
	// Weights is the weights' format: int8 with one scale per matrix,
	// "tensor" (PyTorch's default), one per output row, "channel", or one
	// per row and per N inputs, "blockN" (8 ≤ N ≤ 4096); a low-bit
	// format, "q{b}_0", "q{b}_1" or "q{b}_k" with 2 ≤ b ≤ 8 (LowBit,
	// lowbit.go); or a 16-bit float format, "fp16" or "bf16" (weights
	// rounded to it, products in float32: half.go).
	Weights string
	// Act8 quantizes activations to the full [0, 255] instead of [0, 127]
	// (PyTorch's reduce_range). The int8 kernel must be exact for it.
	// Int8 and low-bit schemes only.
	Act8 bool
	// Embedding8 stores the embedding as row-wise uint8 with float qparams.
	Embedding8 bool
	// EmbeddingBits, from 2 to 7, stores the embedding row-wise in that
	// many bits per value (-emb4: PyTorch's quint4x2 EmbeddingBag
	// counterpart); 0 otherwise. Int8 and low-bit schemes only.
	EmbeddingBits int
	// Embedding32 keeps the embedding in float32 under a 16-bit scheme
	// (which otherwise stores it in its format too), as
	// quantize_dynamic(dtype=torch.float16) does. 16-bit schemes only.
	Embedding32 bool
	// Calib is how calibration data shapes the low-bit weights: "" (plain
	// rounding, no data), "imatrix" (each input's squared error weighted
	// by its mean square on the calibration inputs, as llama.cpp's
	// importance matrix) or "gptq" (errors spread over the inputs not yet
	// quantized, internal/gptq).
	Calib string
	// Plan overrides Weights for some matrices (a mixed-precision plan), in
	// its canonical form: "target=weights" items joined by ',', the targets
	// "dec" (the decoder), "rnn" (every recurrent matrix), "ih", "hh", and
	// "ih{k}", "hh{k}" for layer k, later items winning. "" for none.
	Plan string
}

// Named schemes, for ParseScheme. A scheme is written as its weight
// format followed by modifiers joined by '-', then a plan's items, each
// after a ',':
//
//	pytorch | tensor | channel | block32 | block64 | block128 | blockN
//	q4_0 | q4_1 | q4_k | q{b}_0 | q{b}_1 | q{b}_k   (b from 2 to 8)
//	  [-act8]     full 8-bit activations [0, 255]
//	  [-emb8]     row-wise 8-bit embedding
//	  [-emb{b}]   row-wise b-bit embedding, b from 2 to 7 (-emb4)
//	  [-imatrix]  low-bit weights fitted with importances from calibration data
//	  [-gptq]     low-bit weights quantized by GPTQ on calibration data
//	  [,dec=W] [,rnn=W] [,ih=W] [,hh=W] [,ih0=W] [,hh0=W] …   per-matrix weights
//	fp16 | bf16   16-bit float weights, embedding included
//	  [-emb8]  row-wise 8-bit embedding
//	  [-emb32] float32 embedding (quantize_dynamic(dtype=torch.float16)'s)
//
// "pytorch" is "tensor": quantize_dynamic's default (FBGEMM numerics).
// "act8" alone is "tensor-act8" (QNNPACK's numerics). Examples: "channel",
// "channel-act8", "channel-act8-emb8", "block32-act8", "q4_k-emb4",
// "q4_k-emb4-gptq,dec=q6_k".
var (
	PyTorch = Scheme{Weights: "tensor"}
)

// SchemeNames describes the scheme names ParseScheme reads, for messages.
const SchemeNames = "pytorch (= tensor), channel, blockN (N in [8, 4096], e.g. block32), q{b}_0, q{b}_1, q{b}_k (b in [2, 8], e.g. q4_k), " +
	"each with -act8, -emb8 or -emb{2..7}, and low-bit ones with -imatrix or -gptq, then ,dec=W ,rnn=W ,ih{k}=W ,hh{k}=W overrides; " +
	"fp16 or bf16, with -emb8 or -emb32"

// ParseScheme parses a scheme name (see Scheme); "" is "pytorch".
func ParseScheme(name string) (Scheme, error) {
	var s Scheme
	items := strings.Split(strings.ToLower(strings.TrimSpace(name)), ",")
	parts := strings.Split(items[0], "-")
	switch w := parts[0]; {
	case w == "" || w == "pytorch" || w == "tensor":
		s.Weights = "tensor"
	case w == "fp16" || w == "bf16":
		s.Weights = w
	case w == "act8" || w == "emb8":
		s.Weights = "tensor"
		parts = append([]string{"tensor"}, parts...)
	default:
		var err error
		if s.Weights, err = parseWeights(w); err != nil {
			return Scheme{}, fmt.Errorf("quant: scheme %q: %w; the schemes are %s", name, err, SchemeNames)
		}
	}
	_, half := s.Half()
	for _, m := range parts[1:] {
		b, embBits := strings.CutPrefix(m, "emb")
		bits, err := strconv.Atoi(b)
		switch {
		case m == "act8" && !half:
			s.Act8 = true
		case m == "emb8":
			s.Embedding8 = true
		case m == "emb32" && half:
			s.Embedding32 = true
		case embBits && err == nil && bits >= 2 && bits <= 7 && !half:
			s.EmbeddingBits = bits
		case (m == "gptq" || m == "imatrix") && s.lowBit():
			s.Calib = m
		case m == "act8" || m == "emb32" || embBits && err == nil || m == "gptq" || m == "imatrix":
			return Scheme{}, fmt.Errorf("quant: scheme %q: modifier %q does not apply to %s weights; the schemes are %s", name, m, s.Weights, SchemeNames)
		default:
			return Scheme{}, fmt.Errorf("quant: scheme %q: unknown modifier %q; the schemes are %s", name, m, SchemeNames)
		}
	}
	if (s.Embedding8 || s.EmbeddingBits > 0) && s.Embedding32 || s.Embedding8 && s.EmbeddingBits > 0 {
		return Scheme{}, fmt.Errorf("quant: scheme %q: the -emb modifiers exclude each other", name)
	}
	var plan []string
	for _, it := range items[1:] {
		target, w, ok := strings.Cut(it, "=")
		if !ok || !validTarget(target) {
			return Scheme{}, fmt.Errorf("quant: scheme %q: plan item %q is not TARGET=WEIGHTS with TARGET dec, rnn, ih, hh, ih{k} or hh{k}", name, it)
		}
		if half {
			return Scheme{}, fmt.Errorf("quant: scheme %q: a 16-bit scheme takes no per-matrix plan", name)
		}
		pw, err := parseWeights(w)
		if err != nil {
			return Scheme{}, fmt.Errorf("quant: scheme %q: plan item %q: %w", name, it, err)
		}
		plan = append(plan, target+"="+pw)
	}
	s.Plan = strings.Join(plan, ",")
	if s.Calib != "" && !s.lowBit() {
		return Scheme{}, fmt.Errorf("quant: scheme %q: -%s applies to low-bit weights (q{b}_0, q{b}_1, q{b}_k) only", name, s.Calib)
	}
	return s, nil
}

// parseWeights reads the int8 or low-bit weight format of a scheme or a
// plan item, in its canonical name.
func parseWeights(w string) (string, error) {
	switch {
	case w == "pytorch" || w == "tensor":
		return "tensor", nil
	case w == "channel":
		return w, nil
	case strings.HasPrefix(w, "block"):
		n, err := strconv.Atoi(w[len("block"):])
		if err != nil || n < 8 || n > 4096 {
			return "", fmt.Errorf("block size must be an integer in [8, 4096]")
		}
		return "block" + strconv.Itoa(n), nil
	}
	if f, ok := parseLowBit(w); ok {
		return f.String(), nil
	}
	return "", fmt.Errorf("unknown weight format %q", w)
}

// validTarget reports whether t names matrices of a plan.
func validTarget(t string) bool {
	switch t {
	case "dec", "rnn", "ih", "hh":
		return true
	}
	for _, p := range []string{"ih", "hh"} {
		if k, ok := strings.CutPrefix(t, p); ok {
			n, err := strconv.Atoi(k)
			return err == nil && n >= 0 && n < 1024 && strconv.Itoa(n) == k
		}
	}
	return false
}

// weightsFor returns the weight format of one matrix: target "dec", or
// "ih{k}" / "hh{k}" for layer k, after the plan's overrides.
func (s Scheme) weightsFor(target string) string {
	w := s.Weights
	if s.Plan == "" {
		return w
	}
	for _, it := range strings.Split(s.Plan, ",") {
		t, v, _ := strings.Cut(it, "=")
		if t == target || t == "rnn" && target != "dec" || (t == "ih" || t == "hh") && strings.HasPrefix(target, t) {
			w = v
		}
	}
	return w
}

// lowBit reports whether some matrix of s is in a low-bit format.
func (s Scheme) lowBit() bool {
	if _, ok := parseLowBit(s.Weights); ok {
		return true
	}
	for _, it := range strings.Split(s.Plan, ",") {
		if _, v, ok := strings.Cut(it, "="); ok {
			if _, ok := parseLowBit(v); ok {
				return true
			}
		}
	}
	return false
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
	default:
		if w, err := parseWeights(s.Weights); err != nil || w != s.Weights {
			return fmt.Errorf("quant: unknown weight granularity %q", s.Weights)
		}
		if s.EmbeddingBits != 0 && (s.EmbeddingBits < 2 || s.EmbeddingBits > 7 || s.Embedding8) {
			return fmt.Errorf("quant: scheme %s: embedding bits %d, want 2 to 7 (and not with Embedding8)", s.Weights, s.EmbeddingBits)
		}
		if s.Calib != "" && s.Calib != "gptq" && s.Calib != "imatrix" {
			return fmt.Errorf("quant: scheme %s: unknown calibration %q", s.Weights, s.Calib)
		}
		if s.Plan != "" {
			p, err := ParseScheme("tensor," + s.Plan)
			if err != nil || p.Plan != s.Plan {
				return fmt.Errorf("quant: scheme %s: invalid plan %q", s.Weights, s.Plan)
			}
		}
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
	if s.EmbeddingBits > 0 {
		name += "-emb" + strconv.Itoa(s.EmbeddingBits)
	}
	if s.Embedding32 {
		name += "-emb32"
	}
	if s.Calib != "" {
		name += "-" + s.Calib
	}
	if s.Plan != "" {
		name += "," + s.Plan
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
