package quant

import (
	"context"
	"fmt"
	"math"

	"github.com/lstmq/lstmq/corpus"
	"github.com/lstmq/lstmq/eval"
	"github.com/lstmq/lstmq/internal/f32"
	"github.com/lstmq/lstmq/model"
)

// Agreement measures a model against a reference over the same data, in
// the manner of llama.cpp's perplexity tool (KL divergence and "same top
// token").
type Agreement struct {
	// Loss is the tutorial's evaluation loss, exactly as eval.Evaluator
	// computes it (the same chunks, from a zero state).
	Loss float64
	// KL is the mean over scored positions of KL(p‖q), p the reference's
	// next-word distribution softmax(a), q the model's softmax(b):
	//
	//	KL = Σ_j p_j (a_j − b_j) + log Σ_j p_j e^{b_j − a_j}
	//
	// in float64 (the second term as log1p(Σ p_j expm1(b_j − a_j)), so
	// that the tiny divergences of 16-bit weights are not lost to
	// rounding).
	KL float64
	// Top1 is the fraction of positions where the model's most likely next
	// word (the first on ties) is the reference's.
	Top1 float64
}

// Compare evaluates ref and every model of models over data in lockstep,
// in chunks of bptt steps from a zero state, and returns ref's loss and
// each model's Agreement with ref. The models must share ref's vocabulary;
// the products run on wk's pool (wk may be nil).
func Compare(ctx context.Context, wk *model.Work, ref *model.Model, models []*model.Model, data *corpus.Batches, bptt int) (float64, []Agreement, error) {
	if bptt < 1 {
		return 0, nil, fmt.Errorf("quant: compare: bptt %d < 1", bptt)
	}
	if data == nil || data.Steps < 2 {
		return 0, nil, fmt.Errorf("quant: compare: need at least 2 steps of data")
	}
	v := ref.Tokens()
	for _, m := range models {
		if m.Tokens() != v {
			return 0, nil, fmt.Errorf("quant: compare: a model of %d tokens against one of %d", m.Tokens(), v)
		}
	}
	for _, id := range data.IDs {
		if id < 0 || int(id) >= v {
			return 0, nil, fmt.Errorf("quant: compare: token id %d outside the vocabulary of %d", id, v)
		}
	}
	if wk == nil {
		wk = model.NewWork(nil)
	}
	b := data.Batch
	rst := ref.NewState(b)
	sts := make([]*model.State, len(models))
	for i, m := range models {
		sts[i] = m.NewState(b)
	}
	var (
		refTotal  float64
		total     = make([]float64, len(models))
		kl        = make([]float64, len(models))
		same      = make([]int, len(models))
		a, lg     []float32
		p         []float64 // the reference's probabilities, one chunk
		refArgmax []int
		rowKL     []float64
	)
	for i := 0; i < data.Steps-1; i += bptt {
		if err := ctx.Err(); err != nil {
			return 0, nil, err
		}
		x, y := data.Get(i, bptt)
		t := len(x) / b
		n := t * b
		a = f32.Grow(a, n*v)
		lg = f32.Grow(lg, n*v)
		ref.Forward(wk, a, x, t, b, rst)
		refTotal += float64(t) * eval.MeanCrossEntropy(a, y, v)
		if cap(p) < n*v {
			p = make([]float64, n*v)
		}
		p = p[:n*v]
		refArgmax = append(refArgmax[:0], make([]int, n)...)
		rowKL = append(rowKL[:0], make([]float64, n)...)
		wk.Pool().For(n, 1, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				refArgmax[r] = softmax64(p[r*v:(r+1)*v], a[r*v:(r+1)*v])
			}
		})
		for k, m := range models {
			m.Forward(wk, lg, x, t, b, sts[k])
			total[k] += float64(t) * eval.MeanCrossEntropy(lg, y, v)
			wk.Pool().For(n, 1, func(lo, hi int) {
				for r := lo; r < hi; r++ {
					rowKL[r] = klRow(p[r*v:(r+1)*v], a[r*v:(r+1)*v], lg[r*v:(r+1)*v])
				}
			})
			for r := range n {
				kl[k] += rowKL[r] // in row order: the sum does not depend on the threads
				if argmax(lg[r*v:(r+1)*v]) == refArgmax[r] {
					same[k]++
				}
			}
		}
	}
	rows := float64((data.Steps - 1) * b)
	out := make([]Agreement, len(models))
	for k := range models {
		out[k] = Agreement{Loss: total[k] / float64(data.Steps-1), KL: kl[k] / rows, Top1: float64(same[k]) / rows}
	}
	return refTotal / float64(data.Steps-1), out, nil
}

// softmax64 writes softmax(a) in float64 to p and returns argmax(a).
func softmax64(p []float64, a []float32) int {
	best := argmax(a)
	mx := float64(a[best])
	var s float64
	for j, v := range a {
		e := math.Exp(float64(v) - mx)
		p[j] = e
		s += e
	}
	for j := range p {
		p[j] /= s
	}
	return best
}

// klRow returns KL(softmax(a) ‖ softmax(b)) given p = softmax(a).
func klRow(p []float64, a, b []float32) float64 {
	var s1, s2 float64
	for j, pj := range p {
		d := float64(b[j]) - float64(a[j])
		s1 -= pj * d
		s2 += pj * math.Expm1(d)
	}
	return max(s1+math.Log1p(s2), 0)
}

// argmax returns the index of the largest value, the first on ties (NaN
// never wins).
func argmax(x []float32) int {
	best := 0
	for j, v := range x {
		if v > x[best] {
			best = j
		}
	}
	return best
}
