package eval

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/lstmq/lstmq/corpus"
	"github.com/lstmq/lstmq/model"
)

// biasOnly returns a model whose LSTM and decoder weights are zero, so its
// logits are the decoder bias whatever the input: the cross-entropy of a
// target y is then log Σ exp(b) − b[y], which the test computes by hand.
func biasOnly(v int, bias []float32) *model.Model {
	const ninp, nhid = 3, 2
	p := model.Params{NToken: v, NInp: ninp, NHid: nhid,
		Encoder: make([]float32, v*ninp), DecoderW: make([]float32, v*nhid), DecoderB: bias}
	p.Layers = []model.LayerParams{{Wih: make([]float32, 4*nhid*ninp), Whh: make([]float32, 4*nhid*nhid),
		Bih: make([]float32, 4*nhid), Bhh: make([]float32, 4*nhid)}}
	return model.New(p, 0)
}

func TestEvaluateFormula(t *testing.T) {
	bias := []float32{0.5, -1, 2, 0}
	m := biasOnly(len(bias), bias)
	lse := 0.0
	for _, b := range bias {
		lse += math.Exp(float64(b))
	}
	lse = math.Log(lse)
	ce := func(y int32) float64 { return lse - float64(bias[y]) }

	ids := []int32{0, 1, 2, 3, 3, 2, 1, 0, 2, 2, 1, 3, 0, 0, 1, 2, 3}
	for _, c := range []struct{ batch, bptt int }{{1, 25}, {1, 4}, {1, 5}, {2, 3}, {3, 2}} {
		data := corpus.Batchify(ids, c.batch)
		// The tutorial: total += len(chunk) · mean CE over the chunk's
		// len·batch targets; loss = total / (steps − 1).
		total := 0.0
		for i := 0; i < data.Steps-1; i += c.bptt {
			n := min(c.bptt, data.Steps-1-i)
			s := 0.0
			for r := i + 1; r <= i+n; r++ {
				for j := range c.batch {
					s += ce(ids[j*data.Steps+r])
				}
			}
			total += float64(n) * s / float64(n*c.batch)
		}
		want := total / float64(data.Steps-1)
		r, err := (&Evaluator{Model: m, BPTT: c.bptt}).Run(context.Background(), data)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(r.Loss-want) > 1e-6 {
			t.Errorf("batch %d bptt %d: loss %v, want %v", c.batch, c.bptt, r.Loss, want)
		}
		if r.Tokens != (data.Steps-1)*c.batch {
			t.Errorf("batch %d bptt %d: tokens %d, want %d", c.batch, c.bptt, r.Tokens, (data.Steps-1)*c.batch)
		}
	}
}

// TestRunRefuses checks the inputs Run turns away: an id past the model's
// vocabulary (which would index past the embedding) and a cancelled
// context; and that BPTT 0 means the tutorial's 25 instead of no progress.
func TestRunRefuses(t *testing.T) {
	bias := []float32{0.5, -1, 2, 0}
	m := biasOnly(len(bias), bias)
	if _, err := (&Evaluator{Model: m}).Run(context.Background(), corpus.Batchify([]int32{0, 1, 4, 2}, 1)); err == nil ||
		!strings.Contains(err.Error(), "token 2 has id 4, outside the model's vocabulary of 4 words") {
		t.Errorf("id 4 of 4 words: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (&Evaluator{Model: m}).Run(ctx, corpus.Batchify([]int32{0, 1, 2, 3}, 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	ids := make([]int32, 60)
	r0, err := (&Evaluator{Model: m}).Run(context.Background(), corpus.Batchify(ids, 1))
	r25, _ := (&Evaluator{Model: m, BPTT: 25}).Run(context.Background(), corpus.Batchify(ids, 1))
	if err != nil || r0.Loss != r25.Loss || r0.Tokens != 59 {
		t.Errorf("BPTT 0: %+v, %v; BPTT 25: %+v", r0, err, r25)
	}
}
