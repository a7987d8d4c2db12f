package cli

import (
	"github.com/spf13/cobra"

	"github.com/lstmq/lstmq"
)

// libFlags are the flags of the commands that run the library's sessions
// (score, next, generate): the model, its words, threads, quantization.
type libFlags struct {
	model, data, vocab string
	nonlinearity       string
	q                  quantFlags
	threads, batch     int
}

// addLibFlags defines the shared flags on c; batch > 0 adds --batch-size
// with that default.
func addLibFlags(c *cobra.Command, batch int) *libFlags {
	lf := &libFlags{}
	f := c.Flags()
	flagModel(f, &lf.model, &lf.nonlinearity)
	flagData(f, &lf.data)
	f.StringVar(&lf.vocab, "vocab", "", "vocabulary file, one word per line in id order (as lstmq vocab prints it), instead of --data")
	flagQuant(f, &lf.q, true)
	f.IntVar(&lf.threads, "threads", 0, threadsUsage)
	if batch > 0 {
		f.IntVar(&lf.batch, "batch-size", batch, "sentences scored side by side")
	}
	return lf
}

// open opens the model as the flags say, quantized if asked; extra options
// come after the flags' own.
func (lf *libFlags) open(extra ...lstmq.Option) (*lstmq.Model, error) {
	switch {
	case lf.model == "":
		return nil, usagef("--model is required")
	case lf.threads < 0:
		return nil, usagef("--threads must be >= 0, got %d", lf.threads)
	case lf.batch < 0:
		return nil, usagef("--batch-size must be >= 1, got %d", lf.batch)
	case lf.data != "" && lf.vocab != "":
		return nil, usagef("give --data or --vocab, not both")
	}
	opts := []lstmq.Option{lstmq.WithThreads(lf.threads), lstmq.WithBatchSize(lf.batch), lstmq.WithNonlinearity(lf.nonlinearity)}
	switch {
	case lf.vocab != "":
		opts = append(opts, lstmq.WithVocabulary(lf.vocab))
	case lf.data != "":
		opts = append(opts, lstmq.WithVocabulary(lf.data))
	}
	m, err := lstmq.Open(lf.model, append(opts, extra...)...)
	if err != nil {
		return nil, err
	}
	if m.Vocabulary() == nil {
		return nil, usagef("%s has no vocabulary of its own: give --data DIR or --vocab FILE", lf.model)
	}
	switch lf.q.quantize {
	case "":
		return m, nil
	case "int8":
	default:
		return nil, usagef("--quantize must be int8, got %q", lf.q.quantize)
	}
	s, err := parseScheme(lf.q.scheme, lf.q.embedding)
	if err != nil {
		return nil, err
	}
	return m.Quantize(s.String())
}
