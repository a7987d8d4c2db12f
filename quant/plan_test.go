package quant

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/lstmq/lstmq/corpus"
	"github.com/lstmq/lstmq/internal/gptq"
	"github.com/lstmq/lstmq/model"
)

// TestWeightBytes: the plan's size of every option equals the bytes of the
// tensors Save writes for it.
func TestWeightBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	p := randomParams(r, 37, 40, 36, 2)
	for _, f := range append(PlanFormats, "q4_0", "q4_1", "q3_1", "tensor", "channel", "block32") {
		s, err := ParseScheme(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Quantize(p, s)
		if err != nil {
			t.Fatal(err)
		}
		ts, _, err := encodeModel(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got, want int64
		for _, tn := range ts {
			if strings.HasPrefix(tn.Name, "decoder.weight") || strings.Contains(tn.Name, "weight_") {
				got += int64(len(tn.Data))
			}
		}
		for _, target := range planTargets(2)[1:] {
			want += optionBytes(p, target, s.Weights)
		}
		if got != want {
			t.Errorf("%s: tensors of %d bytes, the plan counts %d", f, got, want)
		}
	}
	for _, b := range PlanEmbeddingBits {
		s := Scheme{Weights: "tensor", EmbeddingBits: b}
		switch b {
		case 8:
			s = Scheme{Weights: "tensor", Embedding8: true}
		case 32:
			s = Scheme{Weights: "tensor"}
		}
		m, err := Quantize(p, s)
		if err != nil {
			t.Fatal(err)
		}
		ts, _, _ := encodeModel(m, nil)
		var got int64
		for _, tn := range ts {
			if strings.HasPrefix(tn.Name, "encoder.") {
				got += int64(len(tn.Data))
			}
		}
		if want := optionBytes(p, "emb", embFormat(b)); got != want {
			t.Errorf("embedding of %d bits: %d bytes, the plan counts %d", b, got, want)
		}
	}
}

// TestChoosePlan compares the knapsack with every assignment of a small
// set of options.
func TestChoosePlan(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	targets := []string{"emb", "ih0", "hh0", "dec"}
	for trial := range 50 {
		options := map[string][]Choice{}
		for _, tg := range targets {
			fs := PlanFormats
			if tg == "emb" {
				fs = []string{"emb2", "emb4", "emb8", "fp32"}
			}
			for i, f := range fs[:4] {
				options[tg] = append(options[tg], Choice{Target: tg, Format: f, Bytes: int64((i + 1) * (1 + r.IntN(40)) * 1024),
					KL: float64(4-i) * r.Float64()})
			}
		}
		budget := MinPlanBytes(options) + int64(r.IntN(100))*1024
		s, err := ChoosePlan(options, budget, Scheme{})
		if err != nil {
			t.Fatal(err)
		}
		// The best assignment, by brute force.
		best := math.Inf(1)
		var rec func(i int, bytes int64, kl float64)
		rec = func(i int, bytes int64, kl float64) {
			if bytes > budget {
				return
			}
			if i == len(targets) {
				best = min(best, kl)
				return
			}
			for _, o := range options[targets[i]] {
				rec(i+1, bytes+o.Bytes, kl+o.KL)
			}
		}
		rec(0, 0, 0)
		var bytes int64
		var kl float64
		for _, tg := range targets {
			f := s.weightsFor(tg)
			if tg == "emb" {
				f = embFormat(32)
				if s.EmbeddingBits > 0 {
					f = embFormat(s.EmbeddingBits)
				} else if s.Embedding8 {
					f = embFormat(8)
				}
			}
			for _, o := range options[tg] {
				if o.Format == f {
					bytes += o.Bytes
					kl += o.KL
				}
			}
		}
		if bytes > budget || kl > best+1e-12 {
			t.Fatalf("trial %d: plan %s has %d bytes (budget %d) and KL %v, the best %v", trial, s, bytes, budget, kl, best)
		}
	}
	if _, err := ChoosePlan(map[string][]Choice{"dec": {{Target: "dec", Format: "q2_k", Bytes: 5000}}}, 4000, Scheme{}); err == nil ||
		!strings.Contains(err.Error(), "5000") {
		t.Errorf("budget below the smallest plan: error %v", err)
	}
}

// TestSensitivityAndPlan measures a small model: the smallest format of
// every target costs more than its largest, and a plan fits its budget.
func TestSensitivityAndPlan(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	p := randomParams(r, 50, 64, 64, 2)
	ids := make([]int32, 400)
	for i := range ids {
		ids[i] = int32(r.IntN(50))
	}
	opts, err := Sensitivity(context.Background(), nil, p, Scheme{}, corpus.Batchify(ids, 1), 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(opts) != 6 || len(opts["dec"]) != len(PlanFormats) || len(opts["emb"]) != len(PlanEmbeddingBits) {
		t.Fatalf("options %v", opts)
	}
	for tg, os := range opts {
		if os[0].KL <= os[len(os)-1].KL || os[0].Bytes >= os[len(os)-1].Bytes {
			t.Errorf("%s: smallest option %+v not costlier and smaller than the largest %+v", tg, os[0], os[len(os)-1])
		}
	}
	budget := MinPlanBytes(opts) + 6000
	s, err := ChoosePlan(opts, budget, Scheme{Act8: true})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Quantize(p, s)
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	ts, _, err := encodeModel(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, tn := range ts {
		if !strings.Contains(tn.Name, "bias") {
			n += int64(len(tn.Data))
		}
	}
	if n > budget || !s.Act8 {
		t.Errorf("plan %s: %d bytes over the budget %d, or act8 lost", s, n, budget)
	}
}

// TestCalibration checks the statistics against a direct computation, the
// refusals, and that GPTQ lowers a matrix's output error on the
// calibration inputs against plain rounding, in every low-bit kind.
func TestCalibration(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	p := randomParams(r, 30, 40, 48, 2)
	ids := make([]int32, 300)
	for i := range ids {
		ids[i] = int32(r.IntN(30))
	}
	if _, err := Calibrate(context.Background(), p, ids[:MinCalibTokens-1]); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("short calibration: %v", err)
	}
	bad := append([]int32{}, ids...)
	bad[7] = 30
	if _, err := Calibrate(context.Background(), p, bad); err == nil || !strings.Contains(err.Error(), "token 7") {
		t.Errorf("id out of range: %v", err)
	}
	cal, err := Calibrate(context.Background(), p, ids)
	if err != nil {
		t.Fatal(err)
	}
	// The decoder's inputs are the last layer's h: the float model's.
	fm := model.New(*p, 0)
	h := make([]float32, len(ids)*p.NHid)
	fm.Hidden(model.NewWork(nil), h, ids, len(ids), 1, fm.NewState(1))
	want, _ := gptq.NewHessian(p.NHid)
	if err := want.Add(h, len(ids)); err != nil {
		t.Fatal(err)
	}
	got, wm := cal.hess["dec"].Matrix(), want.Matrix()
	for i := range wm {
		if math.Abs(got[i]-wm[i]) > 1e-4*(1+math.Abs(wm[i])) {
			t.Fatalf("decoder Hessian[%d] = %v, want %v", i, got[i], wm[i])
		}
	}
	for _, name := range []string{"q4_0", "q3_1", "q3_k"} {
		f, _ := parseLowBit(name)
		for k := range 2 {
			tg := "hh" + strconv.Itoa(k)
			w, rows, cols := matrixOf(p, tg)
			rtn := quantizeLowBit(w, rows, cols, f, nil).dequantize()
			lg, err := quantizeGPTQ(w, rows, cols, f, nil, tg, cal)
			if err != nil {
				t.Fatal(err)
			}
			e0, _ := gptq.OutputError(w, rtn, rows, cols, cal.hess[tg])
			e1, _ := gptq.OutputError(w, lg.dequantize(), rows, cols, cal.hess[tg])
			if !(e1 < 0.9*e0) {
				t.Errorf("%s %s: GPTQ output error %v not below 0.9× rounding's %v", name, tg, e1, e0)
			}
		}
	}
	if _, err := Quantize(p, Scheme{Weights: "q4_k", Calib: "gptq"}); err == nil || !strings.Contains(err.Error(), "calibration") {
		t.Errorf("gptq without calibration: %v", err)
	}
}
