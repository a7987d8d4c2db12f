package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/lstmq/lstmq/checkpoint"
	"github.com/lstmq/lstmq/corpus"
	"github.com/lstmq/lstmq/eval"
	"github.com/lstmq/lstmq/internal/f32"
	"github.com/lstmq/lstmq/internal/parallel"
	"github.com/lstmq/lstmq/model"
)

// EvalBatchSize is main.py's eval_batch_size: the batch size of the
// validation and test evaluations.
const EvalBatchSize = 10

// Config holds the settings of a training run; the names and defaults
// (Defaults) are those of main.py's command-line flags.
type Config struct {
	Kind                  model.Kind    // main.py's --model: LSTM (the zero value), GRU, RNN_TANH or RNN_RELU (ignored when Init is set)
	EmSize, NHid, NLayers int           // model shape (ignored when Init is set)
	LR                    float64       // initial learning rate
	Clip                  float64       // gradient clipping: max global norm (≤ 0: no clipping)
	Epochs                int           // upper epoch limit
	BatchSize             int           // training batch size
	BPTT                  int           // sequence length (also used by the evaluations)
	Dropout               float64       // in [0, 1)
	Tied                  bool          // tie the encoder and decoder weights (needs EmSize == NHid; ignored when Init is set)
	Seed                  uint64        // initial weights and dropout masks
	LogInterval           int           // batches between progress lines
	Save                  string        // path of the best model (a state_dict .pth); "" keeps it in memory only
	Init                  *model.Params // start from these weights (used, not copied) instead of InitParams
	MaxBatches            int           // if > 0, stop each epoch after this many batches
	Threads               int           // worker threads; < 1 means GOMAXPROCS
}

// Defaults returns main.py's defaults: --model LSTM --emsize 200 --nhid 200
// --nlayers 2 --lr 20 --clip 0.25 --epochs 40 --batch_size 20 --bptt 35
// --dropout 0.2 --seed 1111 --log-interval 200, not tied.
func Defaults() Config {
	return Config{Kind: model.LSTM, EmSize: 200, NHid: 200, NLayers: 2, LR: 20, Clip: 0.25, Epochs: 40, BatchSize: 20, BPTT: 35,
		Dropout: 0.2, Seed: 1111, LogInterval: 200}
}

// Summary is the outcome of Train.
type Summary struct {
	Epochs         int     // epochs completed
	Batches        int     // training batches run
	BestValidLoss  float64 // NaN if no epoch completed
	TestLoss       float64 // of the best model; NaN if no epoch completed
	Interrupted    bool    // ctx was cancelled
	TrainSeconds   float64 // time in training batches (evaluations excluded)
	WordsPerSecond float64 // training targets per second of TrainSeconds
	LR             float64 // learning rate at the end
}

// ErrTiedSize is returned when Tied is set and EmSize != NHid; the text is
// that of the example's RNNModel (model.py), which main.py prints.
var ErrTiedSize = errors.New("When using the tied flag, nhid must be equal to emsize")

func (c *Config) check() error {
	if c.Init == nil {
		if err := checkKind(c.Kind); err != nil {
			return err
		}
		if c.EmSize < 1 || c.NHid < 1 || c.NLayers < 1 {
			return fmt.Errorf("train: emsize, nhid and nlayers must be >= 1, got %d, %d, %d", c.EmSize, c.NHid, c.NLayers)
		}
		if c.Tied && c.EmSize != c.NHid {
			return ErrTiedSize
		}
	}
	if c.Init != nil {
		if err := checkKind(c.Init.Kind); err != nil {
			return err
		}
	}
	switch {
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("train: lr must be a positive number, got %v", c.LR)
	case math.IsNaN(c.Clip):
		return fmt.Errorf("train: clip is NaN")
	case c.Epochs < 0, c.BatchSize < 1, c.BPTT < 1, c.LogInterval < 1, c.MaxBatches < 0:
		return fmt.Errorf("train: epochs >= 0, batch size, bptt and log interval >= 1, max batches >= 0 needed")
	case !(c.Dropout >= 0 && c.Dropout < 1):
		return fmt.Errorf("train: dropout must be in [0, 1), got %v", c.Dropout)
	}
	return nil
}

// checkKind refuses a Kind that is none of the four.
func checkKind(k model.Kind) error {
	switch k {
	case model.LSTM, model.GRU, model.RNNTanh, model.RNNReLU:
		return nil
	}
	return fmt.Errorf("train: unknown model type %v (want LSTM, GRU, RNN_TANH or RNN_RELU)", k)
}

// InitParams returns new weights of kind cfg.Kind for a vocabulary of
// ntoken words, as main.py's RNNModel initialises them: encoder and
// decoder weights uniform(−0.1, 0.1), decoder bias 0, and every recurrent
// weight and bias uniform(−1/√nhid, 1/√nhid) (the reset_parameters of
// nn.LSTM, nn.GRU and nn.RNN). With cfg.Tied the decoder weight is the
// encoder weight. Values are drawn from rng in the order encoder, layers
// (W_ih, W_hh, b_ih, b_hh), decoder.
func InitParams(cfg Config, ntoken int, rng *rand.Rand) (*model.Params, error) {
	if err := checkKind(cfg.Kind); err != nil {
		return nil, err
	}
	if ntoken < 1 || cfg.EmSize < 1 || cfg.NHid < 1 || cfg.NLayers < 1 {
		return nil, fmt.Errorf("train: ntoken, emsize, nhid and nlayers must be >= 1, got %d, %d, %d, %d", ntoken, cfg.EmSize, cfg.NHid, cfg.NLayers)
	}
	if cfg.Tied && cfg.EmSize != cfg.NHid {
		return nil, ErrTiedSize
	}
	uniform := func(n int, r float64) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(-r + 2*r*rng.Float64())
		}
		return s
	}
	h := cfg.NHid
	gh := cfg.Kind.Gates() * h
	p := &model.Params{Kind: cfg.Kind, NToken: ntoken, NInp: cfg.EmSize, NHid: h, Encoder: uniform(ntoken*cfg.EmSize, 0.1)}
	r := 1 / math.Sqrt(float64(h))
	for k := range cfg.NLayers {
		in := cfg.EmSize
		if k > 0 {
			in = h
		}
		p.Layers = append(p.Layers, model.LayerParams{Wih: uniform(gh*in, r), Whh: uniform(gh*h, r),
			Bih: uniform(gh, r), Bhh: uniform(gh, r)})
	}
	if cfg.Tied {
		p.DecoderW = p.Encoder
	} else {
		p.DecoderW = uniform(ntoken*h, 0.1)
	}
	p.DecoderB = make([]float32, ntoken)
	return p, nil
}

// Clone returns a deep copy of p, tied as p is.
func Clone(p *model.Params) *model.Params {
	q := zeroLike(p)
	copy(q.Encoder, p.Encoder)
	if !tiedParams(p) {
		copy(q.DecoderW, p.DecoderW)
	}
	copy(q.DecoderB, p.DecoderB)
	for k, l := range p.Layers {
		copy(q.Layers[k].Wih, l.Wih)
		copy(q.Layers[k].Whh, l.Whh)
		copy(q.Layers[k].Bih, l.Bih)
		copy(q.Layers[k].Bhh, l.Bhh)
	}
	return q
}

// step runs one training step on a chunk: forward, backward, clipping of
// the gradient to global norm clip (torch.nn.utils.clip_grad_norm_: with
// ‖g‖ = √(Σ over all parameters of g²), every gradient is multiplied by
// clip/(‖g‖+1e−6) when that is below 1), and the SGD update p ← p − lr·g.
// It returns the loss and ‖g‖ before clipping.
func (n *net) step(x, y []int32, t, b int, st *model.State, lr, clip float64) (loss, norm float64) {
	loss = n.forward(x, y, t, b, st, true)
	n.backward()
	gs := tensors(n.g)
	norm = globalNorm(n.s.Pool, gs)
	if clip > 0 {
		if coef := clip / (norm + 1e-6); coef < 1 {
			scaleAll(n.s.Pool, gs, float32(coef))
		}
	}
	ps := tensors(n.p)
	a := float32(-lr)
	for i, p := range ps {
		g := gs[i]
		n.s.Pool.For(len(p), 1<<14, func(lo, hi int) { f32.Axpy(p[lo:hi], a, g[lo:hi]) })
	}
	return loss, norm
}

// normBlock is the size of the blocks whose sums of squares are added in
// order, so that the norm does not depend on the thread count.
const normBlock = 1 << 14

// globalNorm returns √(Σ_t Σ_i t[i]²), accumulated in float64.
func globalNorm(pool *parallel.Pool, ts [][]float32) float64 {
	var s float64
	var part []float64
	for _, t := range ts {
		nb := (len(t) + normBlock - 1) / normBlock
		part = grow64(part, nb)
		pool.For(nb, 1, func(lo, hi int) {
			for bi := lo; bi < hi; bi++ {
				var a float64
				for _, v := range t[bi*normBlock : min((bi+1)*normBlock, len(t))] {
					a += float64(v) * float64(v)
				}
				part[bi] = a
			}
		})
		for _, a := range part {
			s += a
		}
	}
	return math.Sqrt(s)
}

func scaleAll(pool *parallel.Pool, ts [][]float32, c float32) {
	for _, t := range ts {
		pool.For(len(t), 1<<14, func(lo, hi int) {
			for i := range t[lo:hi] {
				t[lo+i] *= c
			}
		})
	}
}

// ErrSmallCorpus is returned by Train when a split has fewer than two rows
// after batchify: too few tokens to train on, validate or test.
var ErrSmallCorpus = errors.New("corpus too small")

// Train trains a model on c.Train as main.py does and returns the best
// model (lowest validation loss). Each epoch runs truncated BPTT over the
// training batches from a zero state, logging every LogInterval batches;
// then the model is evaluated on c.Valid (batch size 10); if the loss is
// the best so far the model is kept (and saved to cfg.Save), otherwise the
// learning rate is divided by 4. At the end the best model is evaluated on
// c.Test. Progress lines, in main.py's format, go to log.
//
// Cancelling ctx ends training after the current batch ("Exiting from
// training early"); the best model so far is then tested and returned. If
// no epoch had completed there is no best model and Train returns an error.
func Train(ctx context.Context, c *corpus.Corpus, cfg Config, log io.Writer) (*model.Params, Summary, error) {
	sum := Summary{BestValidLoss: math.NaN(), TestLoss: math.NaN()}
	if err := cfg.check(); err != nil {
		return nil, sum, err
	}
	ntok := c.Dict.Len()
	p := cfg.Init
	if p == nil {
		var err error
		if p, err = InitParams(cfg, ntok, rand.New(rand.NewPCG(cfg.Seed, 0x696e6974))); err != nil { // "init"
			return nil, sum, err
		}
	} else if p.NToken != ntok {
		return nil, sum, fmt.Errorf("train: the initial model has %d tokens but the corpus dictionary has %d words", p.NToken, ntok)
	}
	trainData := corpus.Batchify(c.Train, cfg.BatchSize)
	valData := corpus.Batchify(c.Valid, EvalBatchSize)
	testData := corpus.Batchify(c.Test, EvalBatchSize)
	if trainData.Steps < 2 || valData.Steps < 2 || testData.Steps < 2 {
		return nil, sum, fmt.Errorf("%w: train, valid and test give %d, %d and %d rows after batchify (need at least 2 each)",
			ErrSmallCorpus, trainData.Steps, valData.Steps, testData.Steps)
	}

	n := newNet(p, cfg.Dropout, cfg.Seed)
	n.s.Pool = parallel.NewPool(cfg.Threads)
	lr := cfg.LR
	sched := plateau{lr: lr}
	var best *model.Params
	rule := strings.Repeat("-", 89)
	evalWork := model.NewWork(n.s.Pool)
	evaluate := func(q *model.Params, data *corpus.Batches) float64 {
		ev := &eval.Evaluator{Model: model.New(*q, cfg.Dropout), BPTT: cfg.BPTT, Work: evalWork}
		// The ids come from the corpus the model was built for, and a
		// cancelled context ends training at the next batch anyway.
		r, _ := ev.Run(context.WithoutCancel(ctx), data)
		return r.Loss
	}
	var words int
	var trainTime time.Duration
epochs:
	for epoch := 1; epoch <= cfg.Epochs; epoch++ {
		epochStart := time.Now()
		st := model.NewState(n.nl, cfg.BatchSize, n.nh)
		totalLoss := 0.0
		start := time.Now()
		for batch, i := 0, 0; i < trainData.Steps-1; batch, i = batch+1, i+cfg.BPTT {
			if cfg.MaxBatches > 0 && batch >= cfg.MaxBatches {
				break
			}
			x, y := trainData.Get(i, cfg.BPTT)
			t := len(x) / cfg.BatchSize
			t0 := time.Now()
			loss, _ := n.step(x, y, t, cfg.BatchSize, st, lr, cfg.Clip)
			trainTime += time.Since(t0)
			words += len(y)
			sum.Batches++
			totalLoss += loss
			if batch%cfg.LogInterval == 0 && batch > 0 {
				// As main.py: the first interval also counts batch 0.
				cur := totalLoss / float64(cfg.LogInterval)
				elapsed := time.Since(start).Seconds()
				fmt.Fprintf(log, "| epoch %3d | %5d/%5d batches | lr %02.2f | ms/batch %5.2f | loss %5.2f | ppl %8.2f\n",
					epoch, batch, trainData.Steps/cfg.BPTT, lr, elapsed*1000/float64(cfg.LogInterval), cur, math.Exp(cur))
				totalLoss = 0
				start = time.Now()
			}
			if ctx.Err() != nil {
				sum.Interrupted = true
				break epochs
			}
		}
		val := evaluate(p, valData)
		fmt.Fprintln(log, rule)
		fmt.Fprintf(log, "| end of epoch %3d | time: %5.2fs | valid loss %5.2f | valid ppl %8.2f\n",
			epoch, time.Since(epochStart).Seconds(), val, math.Exp(val))
		fmt.Fprintln(log, rule)
		sum.Epochs = epoch
		if sched.epoch(val) {
			best = Clone(p)
			sum.BestValidLoss = val
			if cfg.Save != "" {
				if err := checkpoint.SavePth(cfg.Save, best); err != nil {
					return nil, sum, fmt.Errorf("train: save best model: %w", err)
				}
			}
		}
		lr = sched.lr
		if ctx.Err() != nil {
			sum.Interrupted = true
			break
		}
	}
	sum.LR = lr
	sum.TrainSeconds = trainTime.Seconds()
	if sum.TrainSeconds > 0 {
		sum.WordsPerSecond = float64(words) / sum.TrainSeconds
	}
	if sum.Interrupted {
		fmt.Fprintln(log, rule)
		fmt.Fprintln(log, "Exiting from training early")
	}
	if best == nil {
		if sum.Interrupted {
			return nil, sum, errors.New("train: interrupted before the first epoch ended; no model kept")
		}
		return nil, sum, errors.New("train: no epoch was run (epochs = 0)")
	}
	sum.TestLoss = evaluate(best, testData)
	eq := strings.Repeat("=", 89)
	fmt.Fprintln(log, eq)
	fmt.Fprintf(log, "| End of training | test loss %5.2f | test ppl %8.2f\n", sum.TestLoss, math.Exp(sum.TestLoss))
	fmt.Fprintln(log, eq)
	return best, sum, nil
}

// plateau is main.py's learning-rate rule: an epoch whose validation loss
// is below the best so far is the new best; any other divides lr by 4.
type plateau struct {
	lr   float64
	best float64
	seen bool
}

// epoch records an epoch's validation loss and reports whether it is the
// best so far.
func (p *plateau) epoch(val float64) bool {
	if !p.seen || val < p.best {
		p.best, p.seen = val, true
		return true
	}
	p.lr /= 4
	return false
}
