package lmscore

import (
	"context"
	"fmt"
	"math"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/lstmq/lstmq"
)

func init() {
	register.DoFn4x1[context.Context, Line, func(Result), func(Failure), error](&scoreFn{})
	register.Emitter1[Result]()
}

// Namespace is the namespace of the pipeline's metrics.
const Namespace = "lstmq"

var (
	sentencesMetric = beam.NewCounter(Namespace, "sentences")
	wordsMetric     = beam.NewCounter(Namespace, "words")
	tokensMetric    = beam.NewCounter(Namespace, "tokens")
	oovMetric       = beam.NewCounter(Namespace, "oov")
	failedMetric    = beam.NewCounter(Namespace, "failed")
	loadedMetric    = beam.NewCounter(Namespace, "models_loaded")
	setupsMetric    = beam.NewCounter(Namespace, "setups")
	batchesMetric   = beam.NewCounter(Namespace, "batches")
	bundlesMetric   = beam.NewCounter(Namespace, "bundles")
	nllMetric       = beam.NewCounter(Namespace, "nll_micro")
	pplMetric       = beam.NewDistribution(Namespace, "ppl_milli")
)

// Result is a scored line: the fields of `lstmq score` with the line's
// file and text.
type Result struct {
	File    string
	Line    int64
	Text    string
	LogProb float64 // Σ log P of the words and the final <eos>, natural log
	Tokens  int     // words + 1
	OOV     int     // words scored as <unk>
	PPL     float64 // exp(−LogProb / Tokens)
}

// Score scores lines, a PCollection<Line>, with the model of cfg, and
// returns the results, a PCollection<Result>, and the lines that could not
// be scored, a PCollection<Failure>.
func Score(s beam.Scope, cfg ModelConfig, lines beam.PCollection) (results, failures beam.PCollection) {
	s = s.Scope("lmscore.Score")
	return beam.ParDo2(s, &scoreFn{Config: cfg}, lines)
}

// chunkBatches is how many batches' worth of lines scoreFn gathers before
// scoring them with one Score call, which sorts them by length and runs
// them in padded batches of Config.BatchSize: as `lstmq score` does with
// its chunks, so that a batch is padded little.
const chunkBatches = 64

// scoreFn scores lines in batches of Config.BatchSize within a bundle.
type scoreFn struct {
	Config ModelConfig

	m       *lstmq.Model
	s       *lstmq.Session
	pending []Line
	// unreported is set by Setup until the first bundle counts the setup
	// (and the load, if loaded): metrics are kept per bundle.
	unreported, loaded bool
}

func (fn *scoreFn) Setup(ctx context.Context) error {
	m, loaded, err := acquire(ctx, fn.Config)
	if err != nil {
		return err
	}
	fn.m, fn.s, fn.loaded, fn.unreported = m, m.NewSession(), loaded, true
	return nil
}

func (fn *scoreFn) Teardown() error {
	if fn.m != nil {
		release(fn.Config)
		fn.m, fn.s = nil, nil
	}
	return nil
}

func (fn *scoreFn) ProcessElement(ctx context.Context, l Line, emit func(Result), fail func(Failure)) error {
	fn.report(ctx)
	fn.pending = append(fn.pending, l)
	if len(fn.pending) < chunkBatches*max(fn.Config.BatchSize, 1) {
		return nil
	}
	return fn.flush(ctx, emit, fail)
}

func (fn *scoreFn) FinishBundle(ctx context.Context, emit func(Result), fail func(Failure)) error {
	fn.report(ctx)
	bundlesMetric.Inc(ctx, 1)
	return fn.flush(ctx, emit, fail)
}

func (fn *scoreFn) report(ctx context.Context) {
	if !fn.unreported {
		return
	}
	fn.unreported = false
	setupsMetric.Inc(ctx, 1)
	if fn.loaded {
		loadedMetric.Inc(ctx, 1)
	}
}

// flush scores the pending lines: those the model cannot take go to fail,
// the others are scored with one Score call.
func (fn *scoreFn) flush(ctx context.Context, emit func(Result), fail func(Failure)) error {
	if len(fn.pending) == 0 {
		return nil
	}
	good := fn.pending[:0:0]
	texts := make([]string, 0, len(fn.pending))
	for _, l := range fn.pending {
		if _, err := fn.m.Tokenize(l.Text); err != nil {
			failedMetric.Inc(ctx, 1)
			fail(Failure{File: l.File, Line: l.Line, Text: l.Text, Error: err.Error()})
			continue
		}
		good = append(good, l)
		texts = append(texts, l.Text)
	}
	fn.pending = fn.pending[:0]
	if len(texts) == 0 {
		return nil
	}
	res, err := fn.s.Score(ctx, texts)
	if err != nil {
		// Every line tokenized: only a cancelled bundle gets here.
		return fmt.Errorf("score %d lines from %s line %d on: %w", len(texts), good[0].File, good[0].Line, err)
	}
	batchesMetric.Inc(ctx, 1)
	var words, tokens, oov int64
	var nll float64
	for i, r := range res {
		l := good[i]
		ppl := r.Perplexity()
		emit(Result{File: l.File, Line: l.Line, Text: l.Text, LogProb: r.LogProb, Tokens: len(r.Tokens), OOV: r.OOV, PPL: ppl})
		tokens += int64(len(r.Tokens))
		words += int64(len(r.Tokens) - 1)
		oov += int64(r.OOV)
		nll -= r.LogProb
		if !math.IsNaN(ppl) {
			pplMetric.Update(ctx, int64(math.Round(min(ppl*1000, math.MaxInt64/2))))
		}
	}
	sentencesMetric.Inc(ctx, int64(len(res)))
	wordsMetric.Inc(ctx, words)
	tokensMetric.Inc(ctx, tokens)
	oovMetric.Inc(ctx, oov)
	if !math.IsNaN(nll) && !math.IsInf(nll, 0) {
		nllMetric.Inc(ctx, int64(math.Round(nll*1e6)))
	}
	return nil
}
