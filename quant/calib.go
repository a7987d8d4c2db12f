package quant

import (
	"context"
	"fmt"
	"strconv"

	"github.com/lstmq/lstmq/internal/gptq"
	"github.com/lstmq/lstmq/internal/parallel"
	"github.com/lstmq/lstmq/model"
)

// MinCalibTokens is the fewest calibration tokens Calibrate accepts: the
// statistics of the largest input (the embedding's, ninp wide) need many
// more samples than inputs to mean anything.
const MinCalibTokens = 256

// Calibration holds the second moments of every quantized matrix's inputs
// on calibration text, run through the float32 model: GPTQ's Hessian
// H = 2·XᵀX/N for the N input rows X that reach the matrix. W_ih of
// layer 0 sees the embeddings, W_ih of layer k the h of layer k − 1, W_hh
// of layer k its own h_{t−1}, and the decoder the last layer's h. H's
// diagonal weights each input's squared error (-imatrix); -gptq uses all
// of H.
type Calibration struct {
	Tokens int
	hess   map[string]*gptq.Hessian // by target: "ih{k}", "hh{k}", "dec"
}

// chunk is the tokens Calibrate runs at a time (the state carries over).
const chunk = 64

// Calibrate runs the float32 model of p over ids (one sequence, from the
// zero state) and returns its inputs' statistics. ctx stops it early.
func Calibrate(ctx context.Context, p *model.Params, ids []int32) (*Calibration, error) {
	if err := checkParams(p); err != nil {
		return nil, err
	}
	if len(ids) < MinCalibTokens {
		return nil, fmt.Errorf("quant: calibration split of %d tokens is too short: -imatrix and -gptq need at least %d", len(ids), MinCalibTokens)
	}
	for i, id := range ids {
		if id < 0 || int(id) >= p.NToken {
			return nil, fmt.Errorf("quant: calibration token %d has id %d, outside the model's %d words", i, id, p.NToken)
		}
	}
	fm := model.New(*p, 0)
	frnn, ok := fm.RNN.(*model.RNN)
	if !ok {
		return nil, fmt.Errorf("quant: calibration needs a float32 recurrent module, not %T", fm.RNN)
	}
	c := &Calibration{Tokens: len(ids), hess: map[string]*gptq.Hessian{}}
	dims := map[string]int{"dec": p.NHid}
	nl := len(p.Layers)
	layers := make([]*model.RNN, nl)
	states := make([]*model.State, nl)
	for k := range nl {
		in := p.NInp
		if k > 0 {
			in = p.NHid
		}
		layers[k] = model.NewRNN(p.Kind, frnn.Layer[k:k+1], in, p.NHid)
		states[k] = model.NewState(1, 1, p.NHid)
		dims["ih"+strconv.Itoa(k)] = in
		dims["hh"+strconv.Itoa(k)] = p.NHid
	}
	for t, d := range dims {
		var err error
		if c.hess[t], err = gptq.NewHessian(d); err != nil {
			return nil, err
		}
	}
	add := func(t string, x []float32, m int) error {
		if err := c.hess[t].Add(x, m); err != nil {
			return fmt.Errorf("quant: calibration inputs of %s: %w", t, err)
		}
		return nil
	}
	wk := model.NewWork(parallel.NewPool(0))
	x := make([]float32, chunk*max(p.NInp, p.NHid))
	h := make([]float32, chunk*p.NHid)
	prev := make([]float32, chunk*p.NHid)
	for t0 := 0; t0 < len(ids); t0 += chunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t := min(chunk, len(ids)-t0)
		fm.Encoder.Lookup(x[:t*p.NInp], ids[t0:t0+t])
		in := p.NInp
		for k := range nl {
			ks := strconv.Itoa(k)
			if err := add("ih"+ks, x[:t*in], t); err != nil {
				return nil, err
			}
			// h_{t−1}: the state before the chunk, then the chunk's own h.
			copy(prev[:p.NHid], states[k].H)
			layers[k].Forward(wk, h[:t*p.NHid], x[:t*in], t, 1, states[k])
			copy(prev[p.NHid:t*p.NHid], h[:(t-1)*p.NHid])
			if err := add("hh"+ks, prev[:t*p.NHid], t); err != nil {
				return nil, err
			}
			copy(x, h[:t*p.NHid])
			in = p.NHid
		}
		if err := add("dec", x[:t*p.NHid], t); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// importance returns the diagonal of target's H, 2× each input's mean
// square (llama.cpp's importance matrix entry, up to that factor).
func (c *Calibration) importance(target string, cols int) ([]float32, error) {
	h, ok := c.hess[target]
	if !ok || h.Cols() != cols {
		return nil, fmt.Errorf("no calibration statistics of %d inputs for %s", cols, target)
	}
	imp := make([]float32, cols)
	for i, v := range h.Diag() {
		imp[i] = float32(v)
	}
	return imp, nil
}

// quantizeLowBitCalibrated quantizes target's weights to f with the
// calibration method calib ("", "imatrix" or "gptq").
func quantizeLowBitCalibrated(w []float32, rows, cols int, f LowBit, calib, target string, cal *Calibration) (*lowBitData, error) {
	if calib == "" {
		return quantizeLowBit(w, rows, cols, f, nil), nil
	}
	if cal == nil {
		return nil, fmt.Errorf("-%s needs calibration data", calib)
	}
	imp, err := cal.importance(target, cols)
	if err != nil {
		return nil, err
	}
	if calib == "imatrix" {
		return quantizeLowBit(w, rows, cols, f, imp), nil
	}
	return quantizeGPTQ(w, rows, cols, f, imp, target, cal)
}
