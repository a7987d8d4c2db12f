package quant

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lstmq/lstmq/corpus"
	"github.com/lstmq/lstmq/eval"
	"github.com/lstmq/lstmq/internal/parallel"
	"github.com/lstmq/lstmq/model"
)

// naiveAgreement is the test's own KL and top-1: log-softmax of both
// logit rows in float64, KL = Σ p (log p − log q).
func naiveAgreement(a, b []float32, v int) (kl float64, same int) {
	logsm := func(x []float32) []float64 {
		mx := math.Inf(-1)
		for _, z := range x {
			mx = max(mx, float64(z))
		}
		var s float64
		for _, z := range x {
			s += math.Exp(float64(z) - mx)
		}
		out := make([]float64, len(x))
		for j, z := range x {
			out[j] = float64(z) - mx - math.Log(s)
		}
		return out
	}
	for r := 0; r < len(a)/v; r++ {
		la, lb := logsm(a[r*v:(r+1)*v]), logsm(b[r*v:(r+1)*v])
		for j := range la {
			kl += math.Exp(la[j]) * (la[j] - lb[j])
		}
		if argmax(a[r*v:(r+1)*v]) == argmax(b[r*v:(r+1)*v]) {
			same++
		}
	}
	return kl, same
}

// TestCompare checks Compare's losses against eval.Evaluator (equal), its
// KL and top-1 against the naive formulas, and that a model compared with
// itself has KL 0 and top-1 1, on one thread and on several.
func TestCompare(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	p := randomParams(r, 60, 10, 12, 2)
	ref := model.New(*p, 0)
	var models []*model.Model
	for _, name := range []string{"pytorch", "fp16", "bf16-emb8", "block8-act8"} {
		s, _ := ParseScheme(name)
		m, err := Quantize(p, s)
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, m)
	}
	models = append(models, ref)
	ids := make([]int32, 83)
	for i := range ids {
		ids[i] = int32(r.IntN(60))
	}
	data := corpus.Batchify(ids, 2)
	const bptt = 7
	for _, threads := range []int{1, 3} {
		wk := model.NewWork(parallel.NewPool(threads))
		refLoss, ag, err := Compare(context.Background(), wk, ref, models, data, bptt)
		if err != nil {
			t.Fatal(err)
		}
		evalLoss := func(m *model.Model) float64 {
			res, err := (&eval.Evaluator{Model: m, BPTT: bptt}).Run(context.Background(), data)
			if err != nil {
				t.Fatal(err)
			}
			return res.Loss
		}
		if want := evalLoss(ref); refLoss != want {
			t.Errorf("reference loss %v, Evaluator %v", refLoss, want)
		}
		for k, m := range models {
			if want := evalLoss(m); ag[k].Loss != want {
				t.Errorf("model %d: loss %v, Evaluator %v", k, ag[k].Loss, want)
			}
			// The naive KL and top-1 over the same logits.
			var kl float64
			var same, rows int
			st, rst := m.NewState(2), ref.NewState(2)
			for i := 0; i < data.Steps-1; i += bptt {
				x, _ := data.Get(i, bptt)
				tt := len(x) / 2
				a := make([]float32, len(x)*60)
				b := make([]float32, len(x)*60)
				ref.Forward(nil, a, x, tt, 2, rst)
				m.Forward(nil, b, x, tt, 2, st)
				k, s := naiveAgreement(a, b, 60)
				kl += k
				same += s
				rows += len(x)
			}
			kl /= float64(rows)
			if d := math.Abs(ag[k].KL - kl); d > 1e-12+1e-6*kl {
				t.Errorf("model %d: KL %.6g, naive %.6g", k, ag[k].KL, kl)
			}
			if want := float64(same) / float64(rows); ag[k].Top1 != want {
				t.Errorf("model %d: top-1 %v, naive %v", k, ag[k].Top1, want)
			}
		}
		self := ag[len(ag)-1]
		if self.KL != 0 || self.Top1 != 1 {
			t.Errorf("the reference against itself: KL %v, top-1 %v", self.KL, self.Top1)
		}
		if !(ag[1].KL < ag[0].KL) {
			t.Errorf("fp16's KL %v is not below pytorch int8's %v", ag[1].KL, ag[0].KL)
		}
	}
	if _, _, err := Compare(context.Background(), nil, ref, models, data, 0); err == nil {
		t.Error("bptt 0: no error")
	}
	small := randomParams(r, 5, 3, 2, 1)
	if _, _, err := Compare(context.Background(), nil, ref, []*model.Model{model.New(*small, 0)}, data, 5); err == nil {
		t.Error("vocabularies of different sizes: no error")
	}
}

// TestReportHalf: the report of a 16-bit scheme has an encoder row (the
// embedding is rounded too), KL and top-1 columns, and tiny divergences.
func TestReportHalf(t *testing.T) {
	mf, p := loadModelFixture(t)
	data := corpus.Batchify(mf.EvalTokens, mf.Batch)
	for _, name := range []string{"fp16", "bf16-emb32"} {
		s, _ := ParseScheme(name)
		rows, err := Report(context.Background(), nil, p, mf.Dropout, s, data, mf.BPTT)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, r := range rows {
			names = append(names, r.Name)
			t.Logf("%s %-8s SQNR %6.2f dB  loss %.7f  KL %.3g  top1 %.4f", name, r.Name, r.SQNR, r.Loss, r.KL, r.Top1)
		}
		want := []string{"fp32", "encoder", "rnn.l0", "rnn.l1", "decoder", "all"}
		if s.Embedding32 {
			want = slices.Delete(want, 1, 2)
		}
		if !slices.Equal(names, want) {
			t.Fatalf("%s: rows %v, want %v", name, names, want)
		}
		if rows[0].KL != 0 || rows[0].Top1 != 1 {
			t.Errorf("fp32 row: KL %v, top-1 %v", rows[0].KL, rows[0].Top1)
		}
		all := rows[len(rows)-1]
		if !(all.KL >= 0 && all.KL < 1e-3) || all.Top1 < 0.95 || math.Abs(all.Loss-rows[0].Loss) > 1e-3 {
			t.Errorf("%s: all: KL %v, top-1 %v, loss %v (fp32 %v)", name, all.KL, all.Top1, all.Loss, rows[0].Loss)
		}
	}
}

func TestSweepSchemes(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range SweepSchemes() {
		back, err := ParseScheme(s.String())
		if err != nil || back != s || seen[s.String()] {
			t.Errorf("%s: ParseScheme = %+v, %v (or listed twice)", s, back, err)
		}
		seen[s.String()] = true
	}
	for _, want := range []string{"pytorch", "channel-act8-emb8", "block32", "fp16", "bf16-emb8", "fp16-emb32"} {
		if !seen[want] {
			t.Errorf("%s is not swept", want)
		}
	}
	r := rand.New(rand.NewPCG(33, 34))
	p := randomParams(r, 40, 8, 6, 1)
	n := int64(len(p.Encoder) + len(p.DecoderW) + len(p.DecoderB) + len(p.Layers[0].Wih) + len(p.Layers[0].Whh) + len(p.Layers[0].Bih) + len(p.Layers[0].Bhh))
	if got, err := TensorBytes(model.New(*p, 0)); err != nil || got != 4*n {
		t.Errorf("TensorBytes(fp32) = %d, %v; want %d", got, err, 4*n)
	}
	m, _ := Quantize(p, Scheme{Weights: "fp16"})
	biases := int64(len(p.DecoderB) + 2*len(p.Layers[0].Bih))
	if got, err := TensorBytes(m); err != nil || got != 2*(n-biases)+4*biases {
		t.Errorf("TensorBytes(fp16) = %d, %v; want %d", got, err, 2*(n-biases)+4*biases)
	}
}
