package cli

import (
	"fmt"
	"runtime/debug"

	"github.com/lstmq/lstmq/corpus"
	"github.com/lstmq/lstmq/internal/modelfile"
	"github.com/lstmq/lstmq/model"
	"github.com/lstmq/lstmq/quant"
)

// loaded is a model read from a file, with what the file told about it;
// quant is "fp32" or the scheme it runs.
type loaded struct {
	path   string
	model  *model.Model
	params *model.Params
	vocab  []string
	quant  string
	file   *modelfile.File
}

// loadModel reads a model file of any format lstmq reads (modelfile.Read);
// nonlinearity is a state_dict RNN's (--nonlinearity); dropout is the p
// print(model) shows when the file does not record it.
func loadModel(path, nonlinearity string, dropout float64) (*loaded, error) {
	if path == "" {
		return nil, usagef("--model is required")
	}
	f, err := modelfile.Read(path, nonlinearity)
	if err != nil {
		return nil, err
	}
	if !f.RecordsDropout {
		f.Model.Dropout = dropout
	}
	return &loaded{path: path, model: f.Model, params: f.Params, vocab: f.Vocab, quant: f.Scheme, file: f}, nil
}

// quantize swaps in the int8 modules of scheme (with --embedding int8, the
// embedding too). It needs the float32 parameters of a .pth model.
func (l *loaded) quantize(scheme, embedding string) error {
	s, err := parseScheme(scheme, embedding)
	if err != nil {
		return err
	}
	if s.Calib != "" {
		return usagef("--scheme %s fits its weights on calibration text: write it with lstmq quantize --scheme %s --out FILE.safetensors, then give that file", s, s)
	}
	m, err := l.file.Quantize(s)
	if err != nil {
		return err
	}
	m.Dropout = l.model.Dropout
	l.model, l.quant = m, s.String()
	return nil
}

func parseScheme(scheme, embedding string) (quant.Scheme, error) {
	s, err := quant.ParseScheme(scheme)
	if err != nil {
		return s, usageError{err}
	}
	switch embedding {
	case "fp32":
	case "int8":
		s.Embedding8 = true
	default:
		return s, usagef("--embedding must be fp32 or int8, got %q", embedding)
	}
	return s, nil
}

// loadCorpus reads DIR/{train,valid,test}.txt.
func loadCorpus(dir string) (*corpus.Corpus, error) {
	if dir == "" {
		return nil, usagef("--data is required")
	}
	// The corpus grows its id slices and dictionary by doubling, leaving
	// garbage behind: at the default GOGC the heap may grow to twice the
	// live model (already loaded) before it is collected, and the pages it
	// took stay resident. Collect more often while reading the corpus and
	// return what it left to the OS (peak RSS of eval with a 30 MB int8
	// model: 66 → 57 MB, an 80 MB one 115 → 110 MB, a 114 MB .pth 188 →
	// 181 MB).
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	c, err := corpus.Load(dir)
	debug.FreeOSMemory()
	return c, err
}

// checkVocab fails when the model's vocabulary is not the dictionary's:
// another size, or, for a file that records its words, another word list.
func (l *loaded) checkVocab(dir string, dict *corpus.Dictionary) error {
	if n := l.model.Tokens(); n != dict.Len() {
		return fmt.Errorf("%s: model has %d tokens but the dictionary of %s has %d words (a different corpus than the model was trained on?)",
			l.path, n, dir, dict.Len())
	}
	for i, w := range l.vocab {
		if dw := dict.Word(int32(i)); dw != w {
			return fmt.Errorf("%s: word %d is %q in the model's vocabulary but %q in the dictionary of %s", l.path, i, w, dw, dir)
		}
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
