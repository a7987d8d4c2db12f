// Command lstmq-beam scores text files with an lstmq language model on
// Apache Beam: one JSON line per input line, sharded, with optional
// perplexity buckets and a dead-letter output (package lmscore).
//
//	lstmq-beam --model M --data D --input 'DIR/*.txt' --output OUT/scores
//
// It runs on Prism, in this process, by default; Beam's own flags
// (--runner, --endpoint, --environment_type, --environment_config, …)
// submit the same binary to Flink, Spark or Dataflow.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/s3"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"github.com/lstmq/lstmq"
	"github.com/lstmq/lstmq/beam/lmscore"
)

var (
	model        = flag.String("model", "", "model file: a PyTorch state_dict (.pth) or an lstmq .safetensors file; a path every worker can read, or gs://, s3://")
	data         = flag.String("data", "", "corpus folder with train.txt, valid.txt, test.txt (the model's dictionary comes from them)")
	vocab        = flag.String("vocab", "", "vocabulary file, one word per line in id order (as lstmq vocab prints it), instead of --data")
	input        = flag.String("input", "", "glob of the text files to score, one sentence per line")
	output       = flag.String("output", "", "prefix of the output files: PREFIX-SSSSS-of-NNNNN.jsonl")
	dead         = flag.String("dead-letter", "", "prefix of the file of lines that could not be scored (default: OUTPUT-deadletter)")
	shards       = flag.Int("shards", lmscore.DefaultShards, "files per output (per bucket)")
	buckets      = flag.String("buckets", "", "two perplexity cut-offs, e.g. 30,60: write OUTPUT-head (ppl < 30), -middle and -tail instead of OUTPUT")
	batch        = flag.Int("batch-size", lstmq.DefaultBatchSize, "sentences scored side by side, gathered within a bundle")
	threads      = flag.Int("threads", 0, "threads of each worker's model (0: all its cores)")
	maxWords     = flag.Int("max-words", lstmq.DefaultMaxWords, "longest sentence, in words; a longer line goes to the dead letter")
	quantize     = flag.String("quantize", "", "int8: quantize the model dynamically first (batched int8 scores differ slightly from one at a time)")
	nonlinearity = flag.String("nonlinearity", "", "a plain RNN state_dict's nonlinearity, tanh or relu (a state_dict does not record it; default tanh)")
	scheme       = flag.String("scheme", "pytorch", "quantization scheme with --quantize int8 (pytorch, channel, blockN, …-act8, …-emb8)")
	jobPrefix    = "lstmq-beam"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: lstmq-beam --model M (--data DIR | --vocab FILE) --input GLOB --output PREFIX [flags]\n\nflags (with Beam's own):\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	// On a remote runner's worker, Init runs the worker and does not return.
	beam.Init()
	os.Exit(run(context.Background(), os.Stderr))
}

// run builds the pipeline from the flags, runs it and prints the summary;
// it returns the exit code: 0, 1 for failed work, 2 for bad usage.
func run(ctx context.Context, stderr io.Writer) int {
	o, err := options()
	if err == nil {
		err = checkLocal(ctx, &o)
	}
	if err != nil {
		fmt.Fprintf(stderr, "lstmq-beam: %v\n", err)
		return 2
	}
	p, s := beam.NewPipelineWithRoot()
	if err := lmscore.Pipeline(s, o); err != nil {
		fmt.Fprintf(stderr, "lstmq-beam: %v\n", err)
		return 2
	}
	start := time.Now()
	res, err := beamx.RunWithMetrics(ctx, p)
	if err != nil {
		fmt.Fprintf(stderr, "lstmq-beam: %v\n", err)
		return 1
	}
	sec := time.Since(start).Seconds()
	sum := lmscore.Summarize(res)
	if sum.Sentences == 0 && sum.Failed == 0 {
		fmt.Fprintf(stderr, "lstmq-beam: the runner returned no metrics (an asynchronous job?); the scores are in %s*\n", o.Output)
		return 0
	}
	fmt.Fprintf(stderr, "scored %d sentences, %d words (+%d <eos>, %d OOV) in %.2f s: %.1f sentences/s; perplexity %.2f (%s, batch %d); %d failed (%s); model loaded %d time(s) for %d DoFn instance(s), %d bundle(s)\n",
		sum.Sentences, sum.Words, sum.Sentences, sum.OOV, sec, float64(sum.Sentences)/max(sec, 1e-9), sum.Perplexity(),
		schemeName(o.Scheme), o.BatchSize, sum.Failed, lmscore.ShardName(deadPrefix(o), 0, 1), sum.ModelsLoaded, sum.Setups, sum.Bundles)
	return 0
}

// options turns the flags into the pipeline's options.
func options() (lmscore.Options, error) {
	o := lmscore.Options{
		ModelConfig: lmscore.ModelConfig{Model: *model, Nonlinearity: *nonlinearity, Threads: *threads, BatchSize: *batch, MaxWords: *maxWords},
		Input:       *input, Output: *output, DeadLetter: *dead, Shards: *shards,
	}
	if flag.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q (flags only; quote the --input glob)", flag.Arg(0))
	}
	switch {
	case *data != "" && *vocab != "":
		return o, fmt.Errorf("give --data or --vocab, not both")
	case *data != "":
		o.Vocab = *data
	default:
		o.Vocab = *vocab
	}
	switch *quantize {
	case "":
	case "int8":
		o.Scheme = *scheme
	default:
		return o, fmt.Errorf("--quantize must be int8, got %q", *quantize)
	}
	if *shards < 1 {
		return o, fmt.Errorf("--shards must be >= 1, got %d", *shards)
	}
	switch *nonlinearity {
	case "", "tanh", "relu":
	default:
		return o, fmt.Errorf("--nonlinearity must be tanh or relu, got %q", *nonlinearity)
	}
	cuts, err := lmscore.ParseCuts(*buckets)
	if err != nil {
		return o, err
	}
	o.Cuts = cuts
	return o, o.Check()
}

// checkLocal checks, when the pipeline runs on this machine (Prism, the
// default), that the local model, vocabulary and input exist, so that a
// typo is one line naming the flag rather than a failed job.
func checkLocal(ctx context.Context, o *lmscore.Options) error {
	if r := *runners.Runner; r != "" && r != "prism" && r != "PrismRunner" && r != "direct" {
		return nil // the workers' paths, not necessarily this machine's
	}
	for _, p := range []struct{ flag, path string }{{"--model", o.Model}, {"--data/--vocab", o.Vocab}} {
		if p.path == "" || strings.Contains(p.path, "://") {
			continue
		}
		if _, err := os.Stat(p.path); err != nil {
			return fmt.Errorf("%s: %w", p.flag, err)
		}
	}
	if !strings.Contains(o.Input, "://") {
		m, err := filepath.Glob(o.Input)
		if err != nil {
			return fmt.Errorf("--input %s: %w", o.Input, err)
		}
		if len(m) == 0 {
			return fmt.Errorf("--input %s: no file matches", o.Input)
		}
	}
	return nil
}

func schemeName(s string) string {
	if s == "" {
		return "fp32"
	}
	return "int8 " + s
}

func deadPrefix(o lmscore.Options) string {
	if o.DeadLetter != "" {
		return o.DeadLetter
	}
	return o.Output + "-deadletter"
}
