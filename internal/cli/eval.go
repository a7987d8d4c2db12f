package cli

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/spf13/cobra"

	"github.com/lstmq/lstmq/corpus"
	"github.com/lstmq/lstmq/eval"
	"github.com/lstmq/lstmq/internal/progress"
	"github.com/lstmq/lstmq/model"
)

// evalReport is what `lstmq eval --json` prints.
type evalReport struct {
	Model           string    `json:"model"`
	Split           string    `json:"split"`
	Loss            jsonFloat `json:"loss"`
	Perplexity      jsonFloat `json:"perplexity"`
	Tokens          int       `json:"tokens"`
	Seconds         float64   `json:"seconds"`
	TokensPerSecond jsonFloat `json:"tokens_per_second"`
	Quantization    string    `json:"quantization"`
	BPTT            int       `json:"bptt"`
	BatchSize       int       `json:"batch_size"`
	Threads         int       `json:"threads"`
}

func newEvalCmd() *cobra.Command {
	var (
		modelPath, data, splitName string
		nonlinearity               string
		q                          quantFlags
		bptt, batch, maxTokens     int
		dropout                    float64
		asJSON                     bool
	)
	c := &cobra.Command{
		Use:   "eval --model M.pth --data DIR",
		Short: "Evaluate a model's loss as the tutorial's evaluate() does",
		Args:  cobra.NoArgs,
	}
	threads := addThreads(c)
	f := c.Flags()
	flagModel(f, &modelPath, &nonlinearity)
	flagData(f, &data)
	f.StringVar(&splitName, "split", "test", "split to evaluate: test, valid or train")
	f.IntVar(&bptt, "bptt", 25, "time steps per chunk")
	f.IntVar(&batch, "batch-size", 1, "sequences evaluated side by side")
	f.IntVar(&maxTokens, "max-tokens", 0, "use only the first N rows of the batchified split (0: all), as test_data[:N]")
	flagDropout(f, &dropout)
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	flagQuant(f, &q, true)
	c.RunE = func(c *cobra.Command, _ []string) error {
		pool, err := threads()
		if err != nil {
			return err
		}
		if bptt < 1 || batch < 1 || maxTokens < 0 {
			return usagef("--bptt and --batch-size must be >= 1 and --max-tokens >= 0")
		}
		lm, err := loadModel(modelPath, nonlinearity, dropout)
		if err != nil {
			return err
		}
		cp, err := loadCorpus(data)
		if err != nil {
			return err
		}
		if err := lm.checkVocab(data, cp.Dict); err != nil {
			return err
		}
		switch q.quantize {
		case "":
		case "int8":
			if err := lm.quantize(q.scheme, q.embedding); err != nil {
				return err
			}
		default:
			return usagef("--quantize must be int8, got %q", q.quantize)
		}
		ids, err := split(cp, splitName)
		if err != nil {
			return err
		}
		b := corpus.Batchify(ids, batch)
		if maxTokens > 0 {
			b = b.Head(maxTokens)
		}
		if b.Steps < 2 {
			return fmt.Errorf("%s: the %s split has %d rows at batch size %d; need at least 2", data, splitName, b.Steps, batch)
		}
		ev := &eval.Evaluator{Model: lm.model, BPTT: bptt, Work: model.NewWork(pool)}
		bar := progress.New(c.ErrOrStderr(), "eval", int64((b.Steps-1)*batch), "tokens")
		ev.Progress = func(done, _ int) { bar.Set(int64(done)) }
		r, err := ev.Run(c.Context(), b)
		if err != nil {
			return err
		}
		bar.Done()
		rep := evalReport{Model: modelPath, Split: splitName, Loss: jsonFloat(r.Loss), Perplexity: jsonFloat(r.Perplexity()), Tokens: r.Tokens,
			Seconds: r.Seconds, TokensPerSecond: jsonFloat(r.TokensPerSecond()), Quantization: lm.quant, BPTT: bptt, BatchSize: batch,
			Threads: pool.Threads()}
		out := c.OutOrStdout()
		if asJSON {
			if math.IsInf(float64(rep.Perplexity), 1) {
				rep.Perplexity = math.MaxFloat64
			}
			enc := json.NewEncoder(out)
			return enc.Encode(rep)
		}
		fmt.Fprintf(out, "loss: %.3f\nelapsed time (seconds): %.1f\n", r.Loss, r.Seconds)
		fmt.Fprintf(out, "perplexity: %.2f  (loss %.6f, %d tokens, %.0f tokens/s, %s, %d thread(s))\n",
			r.Perplexity(), r.Loss, r.Tokens, r.TokensPerSecond(), lm.quant, pool.Threads())
		return nil
	}
	return c
}

// jsonFloat is a float64 that JSON-encodes NaN and ±Inf (a model whose
// weights hold NaN gives a NaN loss) as null, which encoding/json refuses.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(v)
}
