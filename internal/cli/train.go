package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/lstmq/lstmq/model"
	"github.com/lstmq/lstmq/train"
)

func newTrainCmd() *cobra.Command {
	cfg := train.Defaults()
	var data, resume, kind string
	var maxBatches int
	c := &cobra.Command{
		Use:   "train --data DIR --save M.pth",
		Short: "Train a model as PyTorch's word_language_model main.py does",
		Long: `Train a recurrent language model (--model LSTM, GRU, RNN_TANH or RNN_RELU,
as main.py's) on DIR/train.txt with plain SGD, gradient clipping, and the
learning rate divided by 4 whenever the validation loss does not improve;
the best model is saved to --save after each improvement, as a state_dict
that loads into the example's RNNModel of that type, and tested on
DIR/test.txt at the end. Ctrl-C ends training after the current batch and
keeps the best model saved so far.

With --resume the type comes from the file (a state_dict cannot tell
RNN_TANH from RNN_RELU: give --model RNN_RELU for a relu RNN).`,
		Args: cobra.NoArgs,
	}
	threads := addThreads(c)
	f := c.Flags()
	flagData(f, &data)
	f.StringVar(&cfg.Save, "save", "", "path to save the best model (a PyTorch state_dict)")
	f.StringVar(&resume, "resume", "", "start from the weights of this state_dict instead of new ones")
	f.StringVar(&kind, "model", cfg.Kind.String(), "type of recurrent net (LSTM, GRU, RNN_TANH, RNN_RELU)")
	f.IntVar(&cfg.EmSize, "emsize", cfg.EmSize, "size of word embeddings")
	f.IntVar(&cfg.NHid, "nhid", cfg.NHid, "number of hidden units per layer")
	f.IntVar(&cfg.NLayers, "nlayers", cfg.NLayers, "number of layers")
	f.Float64Var(&cfg.LR, "lr", cfg.LR, "initial learning rate")
	f.Float64Var(&cfg.Clip, "clip", cfg.Clip, "gradient clipping (max global norm; 0: none)")
	f.IntVar(&cfg.Epochs, "epochs", cfg.Epochs, "upper epoch limit")
	f.IntVar(&cfg.BatchSize, "batch-size", cfg.BatchSize, "batch size")
	f.IntVar(&cfg.BPTT, "bptt", cfg.BPTT, "sequence length")
	f.Float64Var(&cfg.Dropout, "dropout", cfg.Dropout, "dropout applied to layers (0 = no dropout)")
	f.BoolVar(&cfg.Tied, "tied", cfg.Tied, "tie the word embedding and softmax weights")
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed")
	f.IntVar(&cfg.LogInterval, "log-interval", cfg.LogInterval, "report interval")
	f.IntVar(&maxBatches, "max-batches", 0, "stop each epoch after N batches (0: all)")
	c.RunE = func(c *cobra.Command, _ []string) error {
		pool, err := threads()
		if err != nil {
			return err
		}
		if cfg.Save == "" {
			return usagef("--save is required")
		}
		if maxBatches < 0 {
			return usagef("--max-batches must be >= 0, got %d", maxBatches)
		}
		cfg.MaxBatches = maxBatches
		k, err := parseKind(kind)
		if err != nil {
			return err
		}
		cfg.Kind = k
		cfg.Threads = pool.Threads()
		if cfg.EmSize < 1 || cfg.NHid < 1 || cfg.NLayers < 1 || cfg.Epochs < 0 || cfg.BatchSize < 1 || cfg.BPTT < 1 || cfg.LogInterval < 1 {
			return usagef("--emsize, --nhid, --nlayers, --batch-size, --bptt and --log-interval must be >= 1 and --epochs >= 0")
		}
		if !(cfg.LR > 0) || cfg.Clip < 0 || !(cfg.Dropout >= 0 && cfg.Dropout < 1) {
			return usagef("--lr must be > 0, --clip >= 0 and --dropout in [0, 1)")
		}
		if resume != "" {
			for _, name := range []string{"emsize", "nhid", "nlayers", "tied"} {
				if f.Changed(name) {
					return usagef("--%s cannot be given with --resume: the model's shape comes from %s", name, resume)
				}
			}
		} else if cfg.Tied && cfg.EmSize != cfg.NHid {
			return usagef("%v", train.ErrTiedSize)
		}
		// Fail now rather than after the first epoch.
		if fi, err := os.Stat(filepath.Dir(cfg.Save)); err != nil || !fi.IsDir() {
			return fmt.Errorf("--save %s: folder %s does not exist", cfg.Save, filepath.Dir(cfg.Save))
		}
		cp, err := loadCorpus(data)
		if err != nil {
			return err
		}
		if resume != "" {
			// --model, if given, picks a plain RNN's nonlinearity and must
			// agree with the file's shapes.
			nonlinearity := ""
			if f.Changed("model") {
				nonlinearity = k.Nonlinearity()
			}
			p, err := train.LoadParams(resume, nonlinearity)
			if err != nil {
				return err
			}
			if f.Changed("model") && p.Kind != k {
				return fmt.Errorf("--model %s: %s holds a model of type %s", k, resume, p.Kind)
			}
			if p.NToken != cp.Dict.Len() {
				return fmt.Errorf("%s: model has %d tokens but the dictionary of %s has %d words (a different corpus than the model was trained on?)",
					resume, p.NToken, data, cp.Dict.Len())
			}
			cfg.Init = p
		}
		// Ctrl-C cancels c's context (cmd/lstmq): train stops and keeps
		// its best model.
		_, _, err = train.Train(c.Context(), cp, cfg, c.OutOrStdout())
		if errors.Is(err, train.ErrSmallCorpus) {
			err = fmt.Errorf("%s: %w", data, err)
		}
		return err
	}
	return c
}

// parseKind reads --model as main.py takes it: LSTM, GRU, RNN_TANH or
// RNN_RELU, in capitals.
func parseKind(s string) (model.Kind, error) {
	k, err := model.ParseKind(s)
	switch {
	case err == nil && s == k.String():
		return k, nil
	case err == nil:
		return 0, usagef("--model %q: did you mean %s? (the types are LSTM, GRU, RNN_TANH and RNN_RELU, as main.py's)", s, k)
	case s == "Transformer":
		return 0, usagef("--model Transformer: main.py's Transformer is not supported (LSTM, GRU, RNN_TANH or RNN_RELU)")
	}
	return 0, usagef("--model %q: want LSTM, GRU, RNN_TANH or RNN_RELU, as main.py's", s)
}
