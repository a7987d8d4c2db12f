package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/lstmq/lstmq/generate"
	"github.com/lstmq/lstmq/internal/atomicfile"
)

func newGenerateCmd() *cobra.Command {
	var (
		modelPath, data, outPath, format string
		words                            int
		temperature                      float32
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
	f.StringVar(&modelPath, "model", "", "model file")
	f.StringVar(&data, "data", "", "corpus folder the model's dictionary comes from")
	f.IntVar(&words, "words", 1000, "words to generate")
	f.Float32Var(&temperature, "temperature", 1.0, "softmax temperature (> 0); higher is more diverse")
	f.Uint64Var(&seed, "seed", 1, "random seed: the same seed gives the same text")
	f.StringVar(&outPath, "out", "", "write the text to this file instead of standard output")
	f.StringVar(&format, "format", "text", "text: plain words; bytes: Python's b'word' as the tutorial's out.txt")
	f.Float64Var(&dropout, "dropout", 0.5, "dropout recorded in the model's description")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if err := threads(); err != nil {
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
		if words < 0 || !(temperature > 0) {
			return usagef("--words must be >= 0 and --temperature > 0")
		}
		lm, err := loadModel(modelPath, dropout)
		if err != nil {
			return err
		}
		vocab := lm.vocab
		if vocab == nil {
			cp, err := loadCorpus(data)
			if err != nil {
				return err
			}
			if err := lm.checkVocab(data, cp.Dict); err != nil {
				return err
			}
			vocab = cp.Dict.Words()
		}
		text, err := sampleText(lm, vocab, words, temperature, seed, c.ErrOrStderr())
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

// sampleText draws words from lm, printing the tutorial's progress lines
// to progress.
func sampleText(lm *loaded, vocab []string, words int, t float32, seed uint64, progress io.Writer) ([]string, error) {
	start := time.Now()
	ids, err := generate.Sample(lm.model, generate.Options{Words: words, Temperature: t, Seed: seed,
		Progress: func(i, n int) { fmt.Fprintf(progress, "| Generated %d/%d words\n", i, n) }})
	if err != nil {
		return nil, err
	}
	sec := time.Since(start).Seconds()
	fmt.Fprintf(progress, "generated %d words in %.2f s (%.1f words/s, %s)\n", len(ids), sec, float64(len(ids))/sec, lm.quant)
	text := make([]string, len(ids))
	for i, id := range ids {
		text[i] = vocab[id]
	}
	return text, nil
}
