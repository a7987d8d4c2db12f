package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/lstmq/lstmq"
	"github.com/lstmq/lstmq/generate"
	"github.com/lstmq/lstmq/internal/atomicfile"
)

func newGenerateCmd() *cobra.Command {
	var (
		modelPath, data, outPath, format string
		nonlinearity                     string
		prompt                           string
		words, topK                      int
		temperature                      float32
		topP                             float64
		seed                             uint64
		dropout                          float64
	)
	c := &cobra.Command{
		Use:   "generate --model M.pth --data DIR",
		Short: "Sample text from a model as the tutorial does",
		Args:  cobra.NoArgs,
	}
	threads := addThreads(c)
	f := c.Flags()
	flagModel(f, &modelPath, &nonlinearity)
	flagData(f, &data)
	f.IntVar(&words, "words", 1000, "words to generate")
	f.Float32Var(&temperature, "temperature", 1.0, "softmax temperature (> 0); higher is more diverse")
	f.Uint64Var(&seed, "seed", 1, "random seed: the same seed gives the same text")
	f.StringVar(&prompt, "prompt", "", "words to continue (read after <eos>); without it the first input is a random word, as in the tutorial")
	f.IntVar(&topK, "top-k", 0, "draw only among the k most likely words (0: all)")
	f.Float64Var(&topP, "top-p", 0, "draw only among the most likely words whose probabilities reach p (0 or 1: all)")
	f.StringVar(&outPath, "out", "", "write the text to this file instead of standard output")
	f.StringVar(&format, "format", "text", "text: plain words; bytes: Python's b'word' as the tutorial's out.txt")
	flagDropout(f, &dropout) // accepted for compatibility: generation prints no model description
	c.RunE = func(c *cobra.Command, _ []string) error {
		pool, err := threads()
		if err != nil {
			return err
		}
		var fm generate.Format
		switch format {
		case "text":
			fm = generate.Plain
		case "bytes":
			fm = generate.PyBytes
		default:
			return usagef("--format must be text or bytes, got %q", format)
		}
		opt := generate.Options{Words: words, Temperature: temperature, TopK: topK, TopP: topP, Seed: seed}
		if err := opt.Check(); err != nil {
			return usageError{err}
		}
		if modelPath == "" {
			return usagef("--model is required")
		}
		opts := []lstmq.Option{lstmq.WithThreads(pool.Threads()), lstmq.WithNonlinearity(nonlinearity)}
		if data != "" {
			opts = append(opts, lstmq.WithVocabulary(data))
		}
		m, err := lstmq.Open(modelPath, opts...)
		if err != nil {
			return err
		}
		if m.Vocabulary() == nil {
			return usagef("--data is required: %s has no vocabulary of its own", modelPath)
		}
		text, err := sampleText(c, m, prompt, opt)
		if err != nil {
			return err
		}
		write := func(w io.Writer) error { return generate.Write(w, text, fm) }
		if outPath == "" {
			return write(c.OutOrStdout())
		}
		if err := atomicfile.WriteFile(outPath, 0o644, write); err != nil {
			return fmt.Errorf("write %s: %w", outPath, err)
		}
		return nil
	}
	return c
}

// sampleText draws words from m through a session (after prompt, if
// given), printing the tutorial's progress lines to stderr.
func sampleText(c *cobra.Command, m *lstmq.Model, prompt string, opt generate.Options) ([]string, error) {
	var words []string
	progress := c.ErrOrStderr()
	start := time.Now()
	_, err := m.NewSession().Generate(c.Context(), lstmq.GenerateOptions{Prompt: prompt, Words: opt.Words,
		Temperature: float64(opt.Temperature), TopK: opt.TopK, TopP: opt.TopP, Seed: opt.Seed,
		OnWord: func(w string) error {
			if len(words)%100 == 0 {
				fmt.Fprintf(progress, "| Generated %d/%d words\n", len(words), opt.Words)
			}
			words = append(words, w)
			return nil
		}})
	if err != nil {
		return nil, err
	}
	sec := time.Since(start).Seconds()
	fmt.Fprintf(progress, "generated %d words in %.2f s (%.1f words/s, %s)\n", len(words), sec, float64(len(words))/sec, m.Scheme())
	return words, nil
}
