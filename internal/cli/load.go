package cli

import (
	"fmt"

	"github.com/lstmq/lstmq/checkpoint"
	"github.com/lstmq/lstmq/corpus"
	"github.com/lstmq/lstmq/model"
)

// loaded is a model read from a file, with what the file told about it.
type loaded struct {
	path   string
	model  *model.Model
	params *model.Params // float32 parameters; nil for a quantized file
	vocab  []string      // the file's own vocabulary, if it has one
	quant  string        // "fp32", or the quantization scheme
}

func loadModel(path string, dropout float64) (*loaded, error) {
	if path == "" {
		return nil, usagef("--model is required")
	}
	m, p, err := checkpoint.LoadPth(path, dropout)
	if err != nil {
		return nil, err
	}
	return &loaded{path: path, model: m, params: p, quant: "fp32"}, nil
}

// loadCorpus reads DIR/{train,valid,test}.txt.
func loadCorpus(dir string) (*corpus.Corpus, error) {
	if dir == "" {
		return nil, usagef("--data is required")
	}
	return corpus.Load(dir)
}

// checkVocab fails when the model's vocabulary size is not the dictionary's.
func (l *loaded) checkVocab(dir string, dictLen int) error {
	if n := l.model.Tokens(); n != dictLen {
		return fmt.Errorf("%s: model has %d tokens but the dictionary of %s has %d words (a different corpus than the model was trained on?)",
			l.path, n, dir, dictLen)
	}
	return nil
}

// split returns the named split of c.
func split(c *corpus.Corpus, name string) ([]int32, error) {
	switch name {
	case "train":
		return c.Train, nil
	case "valid":
		return c.Valid, nil
	case "test":
		return c.Test, nil
	}
	return nil, usagef("--split must be train, valid or test, got %q", name)
}
