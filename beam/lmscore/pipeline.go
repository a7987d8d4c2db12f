package lmscore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local" // paths without a scheme
)

func init() {
	beam.RegisterType(reflect.TypeOf((*Line)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Result)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Failure)(nil)).Elem())
}

// DefaultShards is how many files the scores are written to unless
// Options.Shards says otherwise.
const DefaultShards = 4

// Options configure Pipeline.
type Options struct {
	ModelConfig           // the model and how each worker runs it
	Input       string    // glob of the text files, on any Beam file system
	Output      string    // prefix of the output files
	DeadLetter  string    // prefix of the failures' file; "" means Output + "-deadletter"
	Shards      int       // files per output (per bucket); < 1 means DefaultShards
	Cuts        []float64 // nil, or two ascending perplexity cut-offs: head, middle, tail
}

// Check reports the first option that is wrong, naming it as the command's
// flag, and checks that Beam has a file system for every path.
func (o *Options) Check() error {
	switch {
	case o.Model == "":
		return errors.New("--model is required")
	case o.Input == "":
		return errors.New("--input is required")
	case o.Output == "":
		return errors.New("--output is required")
	case o.BatchSize < 1:
		return fmt.Errorf("--batch-size must be >= 1, got %d", o.BatchSize)
	case o.Threads < 0:
		return fmt.Errorf("--threads must be >= 0, got %d", o.Threads)
	case o.MaxWords < 0:
		return fmt.Errorf("--max-words must be >= 0, got %d", o.MaxWords)
	case o.Shards < 0:
		return fmt.Errorf("--shards must be >= 1, got %d", o.Shards)
	}
	if len(o.Cuts) != 0 {
		if len(o.Cuts) != len(Buckets)-1 || !(o.Cuts[0] < o.Cuts[1]) || math.IsNaN(o.Cuts[0]) || math.IsInf(o.Cuts[1], 0) {
			return fmt.Errorf("--buckets must be two ascending perplexities (head < a ≤ middle < b ≤ tail), got %v", o.Cuts)
		}
	}
	for _, p := range []struct{ flag, path string }{
		{"--model", o.Model}, {"--data/--vocab", o.Vocab}, {"--input", o.Input}, {"--output", o.Output}, {"--dead-letter", o.DeadLetter},
	} {
		if p.path == "" {
			continue
		}
		fs, err := filesystem.New(context.Background(), p.path)
		if err != nil {
			return fmt.Errorf("%s %s: %w", p.flag, p.path, err)
		}
		fs.Close()
	}
	return nil
}

// ParseCuts parses --buckets: "" (no buckets) or two ascending
// perplexities separated by a comma.
func ParseCuts(s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var cuts []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("--buckets: %q is not a positive perplexity", f)
		}
		cuts = append(cuts, v)
	}
	if len(cuts) != 2 || cuts[0] >= cuts[1] {
		return nil, fmt.Errorf("--buckets must be two ascending perplexities such as 30,60 (head, middle, tail), got %q", s)
	}
	return cuts, nil
}

// OutputFiles returns the files the pipeline writes: the shards of the
// scores (of each bucket), then the dead letter's.
func (o *Options) OutputFiles() []string {
	var names []string
	shards := o.shards()
	for b := range max(len(o.Cuts)+1, 1) {
		for i := range shards {
			names = append(names, ShardName(bucketPrefix(o.Output, o.Cuts, b), i, shards))
		}
	}
	return append(names, ShardName(o.deadLetter(), 0, 1))
}

func (o *Options) shards() int {
	if o.Shards < 1 {
		return DefaultShards
	}
	return o.Shards
}

func (o *Options) deadLetter() string {
	if o.DeadLetter == "" {
		return o.Output + "-deadletter"
	}
	return o.DeadLetter
}

// Pipeline adds to s the reading of o.Input, the scoring and the writing of
// the outputs (see the package documentation). It returns the first error
// of o.Check and adds nothing then.
func Pipeline(s beam.Scope, o Options) error {
	if err := o.Check(); err != nil {
		return err
	}
	cfg := o.ModelConfig
	if cfg.Job == "" {
		var r [8]byte
		rand.Read(r[:])
		cfg.Job = hex.EncodeToString(r[:])
	}
	lines, tooLong := Read(s, o.Input)
	results, failures := Score(s, cfg, beam.Reshuffle(s, lines))
	scores := beam.ParDo(s, &formatResultFn{Prefix: o.Output, Shards: o.shards(), Cuts: o.Cuts}, results)
	dead := beam.ParDo(s, &formatFailureFn{Prefix: o.deadLetter()}, beam.Flatten(s, tooLong, failures))
	writeFiles(s, o.OutputFiles(), scores, dead)
	return nil
}

// Summary is what a pipeline's metrics say of its run.
type Summary struct {
	Sentences, Words, Tokens, OOV, Failed  int64
	ModelsLoaded, Setups, Bundles, Batches int64
	NLL                                    float64 // −Σ logprob, nats (to a millionth per batch)
	PPL                                    metrics.DistributionValue
}

// Perplexity is the corpus perplexity, exp(−Σ logprob / Σ tokens).
func (s Summary) Perplexity() float64 {
	return math.Exp(s.NLL / float64(max(s.Tokens, 1)))
}

// Summarize reads the lstmq metrics of a finished pipeline (nil gives a
// zero Summary: some runners return no metrics).
func Summarize(res beam.PipelineResult) Summary {
	var sum Summary
	if res == nil {
		return sum
	}
	q := res.Metrics().Query(func(r metrics.SingleResult) bool { return r.Namespace() == Namespace })
	for _, c := range q.Counters() {
		v := c.Result()
		switch c.Name() {
		case "sentences":
			sum.Sentences += v
		case "words":
			sum.Words += v
		case "tokens":
			sum.Tokens += v
		case "oov":
			sum.OOV += v
		case "failed":
			sum.Failed += v
		case "models_loaded":
			sum.ModelsLoaded += v
		case "setups":
			sum.Setups += v
		case "bundles":
			sum.Bundles += v
		case "batches":
			sum.Batches += v
		case "nll_micro":
			sum.NLL += float64(v) / 1e6
		}
	}
	for _, d := range q.Distributions() {
		if d.Name() == "ppl_milli" {
			v := d.Result()
			if sum.PPL.Count == 0 {
				sum.PPL = v
				continue
			}
			sum.PPL.Count += v.Count
			sum.PPL.Sum += v.Sum
			sum.PPL.Min = min(sum.PPL.Min, v.Min)
			sum.PPL.Max = max(sum.PPL.Max, v.Max)
		}
	}
	return sum
}
