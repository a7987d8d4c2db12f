package quant

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/lstmq/lstmq/corpus"
	"github.com/lstmq/lstmq/model"
)

// Mixed precision to a target size: every matrix (and the embedding) gets
// the format that, over all of them, keeps the file within the target at
// the smallest summed sensitivity. A target's sensitivity to a format is
// the mean KL divergence from float32 that quantizing it alone in that
// format adds to a near-lossless base (float32 embedding, q8_0 matrices),
// measured on calibration tokens.

// PlanFormats are the matrix formats a plan chooses from, smallest first.
var PlanFormats = []string{"q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "q8_0"}

// PlanEmbeddingBits are the embedding widths a plan chooses from (32: float32).
var PlanEmbeddingBits = []int{2, 3, 4, 5, 6, 8, 32}

// planBase is the format of the targets not under test while measuring.
const planBase = "q8_0"

// Choice is one target's option: its format, file bytes and sensitivity.
type Choice struct {
	Target string // "emb", "ih{k}", "hh{k}" or "dec"
	Format string // a weight format, or for "emb" "emb{b}" / "fp32"
	Bytes  int64
	KL     float64 // mean KL added over the base, ≥ 0
}

// Sensitivity measures every target of p under every plan option on data
// (chunks of bptt steps) against the float32 model, and returns the
// options by target, in PlanFormats' (PlanEmbeddingBits') order.
func Sensitivity(ctx context.Context, wk *model.Work, p *model.Params, s Scheme, data *corpus.Batches, bptt int) (map[string][]Choice, error) {
	if err := checkParams(p); err != nil {
		return nil, err
	}
	qmax := s.actMax()
	targets := planTargets(len(p.Layers))
	weights := map[string]map[string]*Weight{} // target → format → weight
	for _, t := range targets[1:] {
		w, rows, cols := matrixOf(p, t)
		weights[t] = map[string]*Weight{}
		for _, f := range PlanFormats {
			q, err := quantizeWeight(w, rows, cols, Scheme{Weights: f}, t, nil)
			if err != nil {
				return nil, fmt.Errorf("quant: %s as %s: %w", t, f, err)
			}
			weights[t][f] = q
		}
	}
	embs := map[int]model.Embedder{32: model.NewEmbedding(p.Encoder, p.NToken, p.NInp)}
	for _, b := range PlanEmbeddingBits[:len(PlanEmbeddingBits)-1] {
		e, err := quantizeEmbedding(p.Encoder, p.NToken, p.NInp, b)
		if err != nil {
			return nil, err
		}
		embs[b] = e
	}
	build := func(target, format string) *model.Model {
		pick := func(t string) *Weight {
			if t == target {
				return weights[t][format]
			}
			return weights[t][planBase]
		}
		enc := embs[32]
		if target == "emb" {
			enc = embs[embBits(format)]
		}
		layers := make([]Layer, len(p.Layers))
		for k, lp := range p.Layers {
			ks := strconv.Itoa(k)
			layers[k] = Layer{Wih: pick("ih" + ks), Whh: pick("hh" + ks), Bih: lp.Bih, Bhh: lp.Bhh}
		}
		return &model.Model{Encoder: enc, RNN: NewRNN(p.Kind, layers, p.NInp, p.NHid, qmax),
			Decoder: NewLinear(pick("dec"), p.DecoderB, qmax)}
	}
	var (
		models  = []*model.Model{build("", "")}
		options []Choice
	)
	for _, t := range targets {
		for _, f := range targetFormats(t) {
			models = append(models, build(t, f))
			options = append(options, Choice{Target: t, Format: f, Bytes: optionBytes(p, t, f)})
		}
	}
	_, agree, err := Compare(ctx, wk, model.New(*p, 0), models, data, bptt)
	if err != nil {
		return nil, err
	}
	out := map[string][]Choice{}
	for i, o := range options {
		o.KL = max(agree[i+1].KL-agree[0].KL, 0)
		out[o.Target] = append(out[o.Target], o)
	}
	return out, nil
}

// planTargets lists "emb", then "ih{k}", "hh{k}" per layer, then "dec".
func planTargets(layers int) []string {
	t := []string{"emb"}
	for k := range layers {
		t = append(t, "ih"+strconv.Itoa(k), "hh"+strconv.Itoa(k))
	}
	return append(t, "dec")
}

func targetFormats(t string) []string {
	if t != "emb" {
		return PlanFormats
	}
	var out []string
	for _, b := range PlanEmbeddingBits {
		out = append(out, embFormat(b))
	}
	return out
}

// embBits is embFormat's inverse.
func embBits(f string) int {
	if f == "fp32" {
		return 32
	}
	b, _ := strconv.Atoi(strings.TrimPrefix(f, "emb"))
	return b
}

func embFormat(bits int) string {
	if bits == 32 {
		return "fp32"
	}
	return "emb" + strconv.Itoa(bits)
}

// matrixOf returns target's float32 weights and shape.
func matrixOf(p *model.Params, t string) ([]float32, int, int) {
	gh := p.Kind.Gates() * p.NHid
	if t == "dec" {
		return p.DecoderW, p.NToken, p.NHid
	}
	k, _ := strconv.Atoi(t[2:])
	if t[:2] == "ih" {
		in := p.NInp
		if k > 0 {
			in = p.NHid
		}
		return p.Layers[k].Wih, gh, in
	}
	return p.Layers[k].Whh, gh, p.NHid
}

// optionBytes is the bytes of target's tensors (scales included) in a
// file, in format f.
func optionBytes(p *model.Params, t, f string) int64 {
	if t == "emb" {
		if b := embBits(f); b < 32 {
			return int64(p.NToken) * (int64(packedCols(p.NInp, b)) + 8)
		}
		return int64(p.NToken) * int64(p.NInp) * 4
	}
	_, rows, cols := matrixOf(p, t)
	return weightBytes(f, rows, cols)
}

// weightBytes is the bytes of a rows×cols weight in format f, as Save
// writes it.
func weightBytes(f string, rows, cols int) int64 {
	r, c := int64(rows), int64(cols)
	if lf, ok := parseLowBit(f); ok {
		nb, nsb := (c+lowBlock-1)/lowBlock, (c+superBlock-1)/superBlock
		codes := r * int64(packedCols(cols, lf.Bits))
		switch lf.Kind {
		case '0':
			return codes + r*nb*2
		case '1':
			return codes + r*nb*4
		}
		return codes + r*nsb*4 + r*nb*2
	}
	switch s := (Scheme{Weights: f}); {
	case f == "tensor":
		return r*c + 8
	case f == "channel" || s.Block() >= cols:
		return r*c + r*8
	default:
		return r*c + r*((c+int64(s.Block())-1)/int64(s.Block()))*8
	}
}

// ChoosePlan picks one option per target so that their bytes sum to at
// most budget with the smallest summed KL (a knapsack, solved exactly on a
// grid of the largest power of two bytes at most budget/16384, each
// option's bytes rounded up to it), and
// returns the scheme of
// that plan on base's activations and calibration. It refuses a budget
// below the smallest options' sum, giving that sum.
func ChoosePlan(options map[string][]Choice, budget int64, base Scheme) (Scheme, error) {
	unit := int64(1)
	for unit*2 <= budget/16384 {
		unit *= 2
	}
	targets := slices.Sorted(func(yield func(string) bool) {
		for t := range options {
			if !yield(t) {
				return
			}
		}
	})
	if least := MinPlanBytes(options); budget < least {
		return Scheme{}, fmt.Errorf("quant: a plan needs at least %d bytes of weights (%.2f MB: the smallest format everywhere), the target leaves %d", least, float64(least)/1e6, budget)
	}
	limit := int(budget / unit)
	inf := math.Inf(1)
	// best[c] is the smallest KL of the targets so far within c units;
	// pick[i][c] the option of target i there.
	best := make([]float64, limit+1)
	pick := make([][]int16, len(targets))
	for i, t := range targets {
		next := make([]float64, limit+1)
		pick[i] = make([]int16, limit+1)
		for c := range next {
			next[c] = inf
			for j, o := range options[t] {
				u := int((o.Bytes + unit - 1) / unit)
				if u <= c && best[c-u]+o.KL < next[c] {
					next[c], pick[i][c] = best[c-u]+o.KL, int16(j)
				}
			}
		}
		best = next
	}
	if math.IsInf(best[limit], 1) {
		return Scheme{}, fmt.Errorf("quant: no plan fits %d bytes (the smallest formats take %d, each rounded up to %d bytes)", budget, MinPlanBytes(options), unit)
	}
	chosen := map[string]string{}
	for i, c := len(targets)-1, limit; i >= 0; i-- {
		o := options[targets[i]][pick[i][c]]
		chosen[o.Target] = o.Format
		c -= int((o.Bytes + unit - 1) / unit)
	}
	return planScheme(chosen, base)
}

// MinPlanBytes is the bytes of the smallest option of every target.
func MinPlanBytes(options map[string][]Choice) int64 {
	var least int64
	for _, o := range options {
		least += slices.MinFunc(o, func(a, b Choice) int { return cmp.Compare(a.Bytes, b.Bytes) }).Bytes
	}
	return least
}

// planScheme writes a plan as a scheme: the most common matrix format as
// the weights, the others as overrides in target order, the embedding as
// a modifier.
func planScheme(chosen map[string]string, base Scheme) (Scheme, error) {
	count := map[string]int{}
	layers := 0
	for t, f := range chosen {
		if t != "emb" {
			count[f]++
		}
		if strings.HasPrefix(t, "ih") {
			layers++
		}
	}
	common := ""
	for _, f := range PlanFormats {
		if count[f] > count[common] {
			common = f
		}
	}
	name := common
	if b := embBits(chosen["emb"]); b < 32 {
		name += "-emb" + strconv.Itoa(b)
	}
	if base.Act8 {
		name += "-act8"
	}
	if base.Calib != "" {
		name += "-" + base.Calib
	}
	for _, t := range planTargets(layers)[1:] {
		if f := chosen[t]; f != common {
			name += "," + t + "=" + f
		}
	}
	return ParseScheme(name)
}

// FixedBytes is the bytes of a model file that no plan changes: the
// biases (float32).
func FixedBytes(p *model.Params) int64 {
	n := int64(len(p.DecoderB))
	for _, l := range p.Layers {
		n += int64(len(l.Bih) + len(l.Bhh))
	}
	return 4 * n
}
