package cli

import (
	"github.com/spf13/cobra"

	"github.com/lstmq/lstmq/internal/tutorial"
)

func newTutorialCmd() *cobra.Command {
	var opt tutorial.Options
	c := &cobra.Command{
		Use:   "tutorial",
		Short: "Run PyTorch's dynamic quantization tutorial end to end",
		Long: `Run the tutorial "Dynamic Quantization on an LSTM Word Language Model" in its
order: the model's structure, 1000 generated words, the quantized structure,
the sizes, and loss and time of fp32 and int8 on the test split (one thread),
then a comparison table.

Without --data and --model it makes a synthetic corpus and trains a small model
on it first (offline, about a minute). With the real data (lstmq data wikitext-2
DIR) and a PyTorch checkpoint of the tutorial's model it reproduces the tutorial.`,
		Args: cobra.NoArgs,
	}
	f := c.Flags()
	f.StringVar(&opt.Data, "data", "", "corpus folder (train.txt, valid.txt, test.txt); default: a synthetic corpus")
	f.StringVar(&opt.Model, "model", "", "PyTorch state_dict (.pth); default: train a small model on the corpus")
	f.StringVar(&opt.Scheme, "scheme", "pytorch", "quantization scheme (see lstmq quantize --help)")
	f.Float64Var(&opt.Dropout, "dropout", 0.5, "dropout printed for a --model (a state_dict does not record it)")
	f.IntVar(&opt.Words, "words", 1000, "words to generate")
	f.Uint64Var(&opt.Seed, "seed", 1, "sampling seed")
	f.StringVar(&opt.OutText, "out", "", "file for the generated text (default: out.txt in the work folder)")
	f.IntVar(&opt.MaxTokens, "max-tokens", 0, "evaluate on the first N test tokens (0: all)")
	f.StringVar(&opt.JSON, "json", "", "write the comparison as JSON to this file")
	f.StringVar(&opt.Chart, "chart", "", "draw the comparison to this .png or .svg file")
	f.StringVar(&opt.WorkDir, "workdir", "", "folder for the default corpus, model and quantized file (default: a new temporary folder)")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if opt.Words < 0 || opt.MaxTokens < 0 {
			return usagef("--words and --max-tokens must be >= 0")
		}
		if _, err := parseScheme(opt.Scheme, "fp32"); err != nil {
			return err
		}
		ctx := c.Context()
		_, err := tutorial.Run(ctx, opt, c.OutOrStdout())
		return err
	}
	return c
}
