package quant

import (
	"context"
	"fmt"
	"math"

	"github.com/lstmq/lstmq/corpus"
	"github.com/lstmq/lstmq/internal/f32"
	"github.com/lstmq/lstmq/model"
)

// LayerReport is one row of Report, in the manner of PyTorch's Numeric
// Suite (compare_model_outputs) plus a loss ablation.
type LayerReport struct {
	// Name is "encoder" (when the scheme changes it: -emb8, or fp16 and
	// bf16 without -emb32), "rnn.l{k}" (W_ih and W_hh
	// of LSTM layer k together), "decoder", or the summary rows "fp32" (no
	// layer quantized) and "all" (every layer quantized, the model Quantize
	// builds).
	Name string
	// Module is the quantized module's repr.
	Module string
	// SQNR is 10·log10(Σy² / Σ(y−ŷ)²) in dB of the layer's quantized output
	// ŷ against its fp32 output y on the same inputs: the inputs the fp32
	// model feeds that layer over data, each LSTM layer run with its own
	// state. For "all" it is that of the logits; for "fp32", +Inf.
	SQNR float64
	// Loss is the evaluation loss (eval.Evaluator) over data when only
	// this layer is quantized.
	Loss float64
	// KL and Top1 compare that model's next-word distributions with the
	// fp32 model's (Agreement): the mean KL divergence and the fraction
	// of positions with the same most likely word.
	KL, Top1 float64
}

// Report measures, for each layer that s quantizes, the SQNR of its output
// and the loss of the model in which only it is quantized, over data
// evaluated in chunks of bptt steps. The rows are "fp32", then the layers
// in model order, then "all". The products run on wk's pool (wk may be nil).
func Report(ctx context.Context, wk *model.Work, p *model.Params, dropout float64, s Scheme, data *corpus.Batches, bptt int) ([]LayerReport, error) {
	if bptt < 1 {
		return nil, fmt.Errorf("quant: report: bptt %d < 1", bptt)
	}
	if data == nil || data.Steps < 2 {
		return nil, fmt.Errorf("quant: report: need at least 2 steps of data")
	}
	for _, id := range data.IDs {
		if id < 0 || int(id) >= p.NToken {
			return nil, fmt.Errorf("quant: report: token id %d outside the vocabulary of %d", id, p.NToken)
		}
	}
	qm, err := Quantize(p, s)
	if err != nil {
		return nil, err
	}
	if wk == nil {
		wk = model.NewWork(nil)
	}
	fp := model.New(*p, dropout)
	nl := len(p.Layers)
	kind := p.Kind

	// Each layer's gates, fp32 and quantized (scheme pytorch keeps an
	// nn.RNN in fp32: its rows then show no noise).
	fg := fp.RNN.(*model.RNN).Gates()
	qg := fg
	layerDesc := func(k int) string { return fmt.Sprintf("%s layer %d (fp32)", fp.RNN.Repr(dropout), k) }
	switch qrnn := qm.RNN.(type) {
	case *RNN:
		qg = qrnn.Gates()
		layerDesc = func(k int) string {
			return fmt.Sprintf("%s layer %d (W_ih %s, W_hh %s)", qrnn.Repr(dropout), k, qrnn.Layer[k].Wih.kind(), qrnn.Layer[k].Whh.kind())
		}
	case *HalfRNN:
		qg = qrnn.Gates()
		layerDesc = func(k int) string {
			return fmt.Sprintf("%s layer %d (W_ih, W_hh %s)", qrnn.Repr(dropout), k, qrnn.Format())
		}
	}

	// SQNR of each layer on the fp32 model's inputs to it.
	names := []string{}
	mods := []string{}
	_, fpEnc := qm.Encoder.(*model.Embedding)
	if !fpEnc {
		names, mods = append(names, "encoder"), append(mods, qm.Encoder.String())
	}
	for k := range nl {
		names = append(names, fmt.Sprintf("rnn.l%d", k))
		mods = append(mods, layerDesc(k))
	}
	names, mods = append(names, "decoder"), append(mods, qm.Decoder.String())
	sig := make([]float64, len(names))
	noise := make([]float64, len(names))
	acc := func(i int, y, yq []float32) {
		for j, v := range y {
			d := float64(v) - float64(yq[j])
			sig[i] += float64(v) * float64(v)
			noise[i] += d * d
		}
	}
	b := data.Batch
	fs := make([]*model.State, nl)
	qs := make([]*model.State, nl)
	for k := range nl {
		fs[k], qs[k] = model.NewState(1, b, p.NHid), model.NewState(1, b, p.NHid)
	}
	layer := func(g model.Gates, out, x []float32, t int, st *model.State) {
		model.Run(wk, kind, []model.Gates{g}, p.NHid, out, x, t, b, st)
	}
	var emb, embq, y, yq, lg, lgq []float32
	var xs [2][]float32 // layer inputs and outputs, alternating
	for i := 0; i < data.Steps-1; i += bptt {
		ids, _ := data.Get(i, bptt)
		t := len(ids) / b
		n := t * b
		emb = f32.Grow(emb, n*p.NInp)
		fp.Encoder.Lookup(emb, ids)
		row := 0
		if !fpEnc {
			embq = f32.Grow(embq, n*p.NInp)
			qm.Encoder.Lookup(embq, ids)
			acc(row, emb, embq)
			row++
		}
		x := emb
		for k := range nl {
			xs[k%2] = f32.Grow(xs[k%2], n*p.NHid)
			y = xs[k%2]
			yq = f32.Grow(yq, n*p.NHid)
			layer(fg[k], y, x, t, fs[k])
			layer(qg[k], yq, x, t, qs[k])
			acc(row, y, yq)
			row++
			x = y
		}
		lg = f32.Grow(lg, n*p.NToken)
		lgq = f32.Grow(lgq, n*p.NToken)
		fp.Decoder.Forward(wk, lg, x, n)
		qm.Decoder.Forward(wk, lgq, x, n)
		acc(row, lg, lgq)
	}

	// Losses, KL and top-1 agreement of each layer alone, then of
	// everything, against fp32, all in one pass over data.
	var ablated []*model.Model
	if !fpEnc {
		m := *fp
		m.Encoder = qm.Encoder
		ablated = append(ablated, &m)
	}
	for k := range nl {
		gates := append([]model.Gates(nil), fg...)
		gates[k] = qg[k]
		m := *fp
		m.RNN = &mixed{kind: kind, gates: gates, in: p.NInp, hid: p.NHid}
		ablated = append(ablated, &m)
	}
	dm := *fp
	dm.Decoder = qm.Decoder
	ablated = append(ablated, &dm, qm)
	fpLoss, agree, err := Compare(ctx, wk, fp, ablated, data, bptt)
	if err != nil {
		return nil, err
	}
	out := []LayerReport{{Name: "fp32", Module: fp.String(), SQNR: math.Inf(1), Loss: fpLoss, Top1: 1}}
	for row := range names {
		out = append(out, LayerReport{Name: names[row], Module: mods[row], SQNR: db(sig[row], noise[row]),
			Loss: agree[row].Loss, KL: agree[row].KL, Top1: agree[row].Top1})
	}

	// Whole model: logits SQNR and loss.
	var ls, ln float64
	fst, qst := fp.NewState(b), qm.NewState(b)
	for i := 0; i < data.Steps-1; i += bptt {
		ids, _ := data.Get(i, bptt)
		t := len(ids) / b
		lg = f32.Grow(lg, t*b*p.NToken)
		lgq = f32.Grow(lgq, t*b*p.NToken)
		fp.Forward(wk, lg, ids, t, b, fst)
		qm.Forward(wk, lgq, ids, t, b, qst)
		for j, v := range lg {
			d := float64(v) - float64(lgq[j])
			ls += float64(v) * float64(v)
			ln += d * d
		}
	}
	all := agree[len(agree)-1]
	out = append(out, LayerReport{Name: "all", Module: "scheme " + s.String(), SQNR: db(ls, ln), Loss: all.Loss, KL: all.KL, Top1: all.Top1})
	return out, nil
}

func db(sig, noise float64) float64 {
	if noise == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(sig/noise)
}

// mixed is a recurrent module whose layers are some fp32 and some quantized.
type mixed struct {
	kind    model.Kind
	gates   []model.Gates
	in, hid int
}

func (s *mixed) Kind() model.Kind    { return s.kind }
func (s *mixed) Input() int          { return s.in }
func (s *mixed) Hidden() int         { return s.hid }
func (s *mixed) Layers() int         { return len(s.gates) }
func (s *mixed) Repr(float64) string { return fmt.Sprintf("mixed(%d layers)", len(s.gates)) }

func (s *mixed) Forward(w *model.Work, out, x []float32, t, b int, st *model.State) {
	model.Run(w, s.kind, s.gates, s.hid, out, x, t, b, st)
}
