package tutorial

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/lstmq/lstmq/checkpoint"
	"github.com/lstmq/lstmq/corpus"
	"github.com/lstmq/lstmq/eval"
	"github.com/lstmq/lstmq/generate"
	"github.com/lstmq/lstmq/internal/atomicfile"
	"github.com/lstmq/lstmq/internal/chart"
	"github.com/lstmq/lstmq/internal/parallel"
	"github.com/lstmq/lstmq/internal/synth"
	"github.com/lstmq/lstmq/model"
	"github.com/lstmq/lstmq/quant"
	"github.com/lstmq/lstmq/train"
)

// Options says what to run. The zero values of the sizes take the
// built-in default's.
type Options struct {
	Data    string  // corpus folder (train.txt, valid.txt, test.txt); "" makes the synthetic one
	Model   string  // PyTorch state_dict (.pth); "" trains a small model on the corpus
	Scheme  string  // quantization scheme (quant.ParseScheme); "" is "pytorch"
	Dropout float64 // printed in the model's structure for a .pth (a state_dict does not record it)

	Words       int     // words to generate (the tutorial: 1000)
	Temperature float32 // sampling temperature (1)
	Seed        uint64  // sampling seed
	OutText     string  // generated text file; "" puts out.txt in WorkDir
	MaxTokens   int     // evaluate on the first N test tokens; 0: all

	JSON  string // write the comparison as JSON here, if set
	Chart string // draw the comparison here (.png or .svg), if set

	WorkDir string // where the default corpus, model and quantized file go; "" makes a temporary folder

	// For the built-in default:
	Synth synth.Config // corpus sizes (zero: synth.DefaultConfig)
	Train train.Config // trainer settings (zero: DefaultTrain)
}

// DefaultTrain is the built-in default's model and training: a 2-layer
// LSTM of 128 units with tied weights, two epochs over the synthetic corpus.
func DefaultTrain() train.Config {
	c := train.Defaults()
	c.EmSize, c.NHid, c.NLayers, c.Tied = 128, 128, 2, true
	c.Epochs, c.Dropout, c.LogInterval = 2, 0.1, 100
	return c
}

// Variant is one column of the comparison.
type Variant struct {
	Name    string  `json:"name"` // "fp32" or "int8"
	Scheme  string  `json:"scheme"`
	SizeMB  float64 `json:"size_mb"`
	Loss    float64 `json:"loss"`
	Seconds float64 `json:"seconds"`
	Tokens  int     `json:"tokens"`
}

// Summary is what the tutorial measured, as --json writes it.
type Summary struct {
	Data          string  `json:"data"`
	Model         string  `json:"model"`
	Vocabulary    int     `json:"vocabulary"`
	FP32          Variant `json:"fp32"`
	Int8          Variant `json:"int8"`
	SizeRatio     float64 `json:"size_ratio"`                 // int8 / fp32
	LossDelta     float64 `json:"loss_delta"`                 // int8 − fp32
	TimeRatio     float64 `json:"time_ratio"`                 // int8 / fp32
	ValidPPL      float64 `json:"valid_perplexity,omitempty"` // of the model trained by the default
	GeneratedText string  `json:"generated_text_file"`
}

// Run runs the tutorial, printing to w.
func Run(ctx context.Context, opt Options, w io.Writer) (*Summary, error) {
	if opt.Words == 0 {
		opt.Words = 1000
	}
	if opt.Temperature == 0 {
		opt.Temperature = 1
	}
	scheme, err := quant.ParseScheme(opt.Scheme)
	if err != nil {
		return nil, err
	}
	if opt.WorkDir == "" {
		if opt.WorkDir, err = os.MkdirTemp("", "lstmq-tutorial"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(opt.WorkDir, 0o755); err != nil {
		return nil, err
	}
	sum := &Summary{}

	// 1–3. Corpus and model.
	if opt.Data == "" {
		opt.Data = filepath.Join(opt.WorkDir, "data")
		cfg := opt.Synth
		if cfg == (synth.Config{}) {
			cfg = synth.DefaultConfig()
		}
		fmt.Fprintf(w, "Making a synthetic corpus in %s (seed %d, %d made-up words)\n", opt.Data, cfg.Seed, cfg.Vocab)
		if err := os.MkdirAll(opt.Data, 0o755); err != nil {
			return nil, err
		}
		if err := synth.Generate(opt.Data, cfg); err != nil {
			return nil, err
		}
	}
	c, err := corpus.Load(opt.Data)
	if err != nil {
		return nil, err
	}
	sum.Data, sum.Vocabulary = opt.Data, c.Dict.Len()
	var p *model.Params
	dropout := opt.Dropout
	if opt.Model == "" {
		tc := opt.Train
		if tc.EmSize == 0 {
			tc = DefaultTrain()
		}
		opt.Model = filepath.Join(opt.WorkDir, "model.pth")
		tc.Save = opt.Model
		fmt.Fprintf(w, "Training a %d-layer LSTM (emsize %d, nhid %d) on %s for %d epoch(s)\n", tc.NLayers, tc.EmSize, tc.NHid, opt.Data, tc.Epochs)
		var ts train.Summary
		if p, ts, err = train.Train(ctx, c, tc, w); err != nil {
			return nil, err
		}
		sum.ValidPPL = math.Exp(ts.BestValidLoss)
		fmt.Fprintf(w, "Validation perplexity %.1f against a vocabulary of %d words (a uniform guess scores %d)\n\n",
			sum.ValidPPL, c.Dict.Len(), c.Dict.Len())
		dropout = tc.Dropout
	} else {
		var m *model.Model
		if m, p, err = checkpoint.LoadPth(opt.Model, ""); err != nil {
			return nil, err
		}
		if m.Tokens() != c.Dict.Len() {
			return nil, fmt.Errorf("%s: model has %d tokens but the dictionary of %s has %d words", opt.Model, m.Tokens(), opt.Data, c.Dict.Len())
		}
	}
	sum.Model = opt.Model
	fp := model.New(*p, dropout)
	fmt.Fprintln(w, fp)

	// 4. Generation.
	if opt.OutText == "" {
		opt.OutText = filepath.Join(opt.WorkDir, "out.txt")
	}
	ids, err := generate.Sample(model.NewWork(parallel.NewPool(0)), fp, generate.Options{Words: opt.Words, Temperature: opt.Temperature, Seed: opt.Seed,
		Progress: func(i, n int) { fmt.Fprintf(w, "| Generated %d/%d words\n", i, n) }})
	if err != nil {
		return nil, err
	}
	words := make([]string, len(ids))
	for i, id := range ids {
		words[i] = c.Dict.Word(id)
	}
	var text strings.Builder
	generate.Write(&text, words, generate.PyBytes)
	if err := atomicfile.WriteFile(opt.OutText, 0o644, func(f io.Writer) error {
		_, err := io.WriteString(f, text.String())
		return err
	}); err != nil {
		return nil, err
	}
	sum.GeneratedText = opt.OutText
	fmt.Fprintln(w, text.String())

	// 5. Quantization.
	qm, err := quant.Quantize(p, scheme)
	if err != nil {
		return nil, err
	}
	qm.Dropout = dropout
	fmt.Fprintln(w, qm)

	// 6. Sizes.
	fpSize, err := checkpoint.StateDictSize(p)
	if err != nil {
		return nil, err
	}
	qPath := filepath.Join(opt.WorkDir, "model.int8.safetensors")
	if err := quant.Save(qPath, qm, c.Dict.Words(), nil); err != nil {
		return nil, err
	}
	st, err := os.Stat(qPath)
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(w, "Size (MB):", float64(fpSize)/1e6)
	fmt.Fprintln(w, "Size (MB):", float64(st.Size())/1e6)

	// 7. Loss and time, one thread.
	data := corpus.Batchify(c.Test, 1)
	if opt.MaxTokens > 0 {
		data = data.Head(opt.MaxTokens)
	}
	timeEval := func(m *model.Model) (eval.Result, error) {
		r, err := (&eval.Evaluator{Model: m, BPTT: 25}).Run(ctx, data)
		if err == nil {
			fmt.Fprintf(w, "loss: %.3f\nelapsed time (seconds): %.1f\n", r.Loss, r.Seconds)
		}
		return r, err
	}
	rf, err := timeEval(fp)
	if err != nil {
		return nil, err
	}
	rq, err := timeEval(qm)
	if err != nil {
		return nil, err
	}
	sum.FP32 = Variant{Name: "fp32", Scheme: "fp32", SizeMB: float64(fpSize) / 1e6, Loss: rf.Loss, Seconds: rf.Seconds, Tokens: rf.Tokens}
	sum.Int8 = Variant{Name: "int8", Scheme: scheme.String(), SizeMB: float64(st.Size()) / 1e6, Loss: rq.Loss, Seconds: rq.Seconds, Tokens: rq.Tokens}
	sum.SizeRatio = sum.Int8.SizeMB / sum.FP32.SizeMB
	sum.LossDelta = sum.Int8.Loss - sum.FP32.Loss
	sum.TimeRatio = sum.Int8.Seconds / sum.FP32.Seconds

	// 8. The comparison.
	fmt.Fprintln(w)
	writeTable(w, sum)
	if opt.JSON != "" {
		if err := atomicfile.WriteFile(opt.JSON, 0o644, func(f io.Writer) error {
			e := json.NewEncoder(f)
			e.SetIndent("", "  ")
			return e.Encode(sum)
		}); err != nil {
			return nil, err
		}
	}
	if opt.Chart != "" {
		bars := []chart.Bar{
			{Label: "fp32", SizeMB: sum.FP32.SizeMB, Loss: sum.FP32.Loss, Seconds: sum.FP32.Seconds},
			{Label: "int8 " + sum.Int8.Scheme, SizeMB: sum.Int8.SizeMB, Loss: sum.Int8.Loss, Seconds: sum.Int8.Seconds},
		}
		if err := chart.Write(opt.Chart, "lstmq: dynamic quantization, fp32 vs int8", bars); err != nil {
			return nil, err
		}
	}
	return sum, nil
}

func writeTable(w io.Writer, s *Summary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\tfp32\tint8 (%s)\tint8 vs fp32\t\n", s.Int8.Scheme)
	fmt.Fprintf(tw, "size (MB)\t%.3f\t%.3f\t×%.3f\t\n", s.FP32.SizeMB, s.Int8.SizeMB, s.SizeRatio)
	fmt.Fprintf(tw, "loss\t%.4f\t%.4f\t%+.4f\t\n", s.FP32.Loss, s.Int8.Loss, s.LossDelta)
	fmt.Fprintf(tw, "time (s)\t%.2f\t%.2f\t×%.3f\t\n", s.FP32.Seconds, s.Int8.Seconds, s.TimeRatio)
	tw.Flush()
}
