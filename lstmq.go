package lstmq

import (
	"runtime"

	"github.com/lstmq/lstmq/corpus"
	"github.com/lstmq/lstmq/internal/modelfile"
	"github.com/lstmq/lstmq/internal/parallel"
	"github.com/lstmq/lstmq/model"
	"github.com/lstmq/lstmq/quant"
)

// DefaultBatchSize is how many sentences Score runs side by side unless
// WithBatchSize says otherwise.
const DefaultBatchSize = 16

// DefaultMaxWords is the longest sentence, in words, that Score and Feed
// take unless WithMaxWords says otherwise. It bounds a batch's memory:
// about batch·words·(ninp + 6·nhid)·4 bytes.
const DefaultMaxWords = 4096

// Model is a language model ready to run: its weights, its vocabulary and
// the worker pool its products run on. It is immutable after Open or
// Quantize and safe for concurrent use by any number of Sessions.
type Model struct {
	file   *modelfile.File
	net    *model.Model
	scheme string // "fp32" or the quantization scheme
	vocab  *vocabulary
	pool   *parallel.Pool
	cfg    config
}

type config struct {
	vocabPath    string
	nonlinearity string
	threads      int
	batch        int
	maxWords     int
}

// An Option configures Open.
type Option func(*config)

// WithVocabulary gives the model's words: a corpus folder (train.txt,
// valid.txt and test.txt, whose dictionary the example's Corpus builds)
// or a vocabulary file of one word per line in id order, as `lstmq vocab`
// prints it. A .safetensors model written by lstmq carries its own
// vocabulary; a given one must then be the same.
func WithVocabulary(path string) Option { return func(c *config) { c.vocabPath = path } }

// WithNonlinearity gives a plain RNN's nonlinearity, "tanh" (the
// example's default) or "relu": a state_dict does not record it (its
// shapes tell LSTM, GRU and RNN apart, not tanh from relu). lstmq's own
// files and the example's torch.save(model) files record it; a different
// value given here is then an error.
func WithNonlinearity(s string) Option { return func(c *config) { c.nonlinearity = s } }

// WithThreads sets how many threads the model's products use; n < 1 means
// runtime.GOMAXPROCS(0), the default.
func WithThreads(n int) Option { return func(c *config) { c.threads = n } }

// WithBatchSize sets how many sentences Score runs side by side (default
// DefaultBatchSize); n < 1 means the default.
func WithBatchSize(n int) Option { return func(c *config) { c.batch = n } }

// WithMaxWords sets the longest sentence Score and Feed take (default
// DefaultMaxWords); n < 1 means the default.
func WithMaxWords(n int) Option { return func(c *config) { c.maxWords = n } }

// Open reads a model file: a PyTorch state_dict (.pth, zip or legacy) of
// the example's model (LSTM, GRU, RNN_TANH or RNN_RELU) in float32, the
// example's torch.save(model) file, one quantized by quantize_dynamic, or
// an lstmq .safetensors model. The file is parsed once. Without a vocabulary
// (WithVocabulary, or one in the file) the model runs on ids only: Score,
// Feed, Next and Generate fail with ErrVocabulary.
func Open(path string, opts ...Option) (*Model, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.threads < 1 {
		cfg.threads = runtime.GOMAXPROCS(0)
	}
	if cfg.batch < 1 {
		cfg.batch = DefaultBatchSize
	}
	if cfg.maxWords < 1 {
		cfg.maxWords = DefaultMaxWords
	}
	switch cfg.nonlinearity {
	case "", "tanh", "relu":
	default:
		return nil, mark(ErrOption, "nonlinearity %q: want tanh or relu", cfg.nonlinearity)
	}
	f, err := modelfile.Read(path, cfg.nonlinearity)
	if err != nil {
		return nil, err
	}
	m := &Model{file: f, net: f.Model, scheme: f.Scheme, pool: parallel.NewPool(cfg.threads), cfg: cfg}
	if f.Vocab != nil {
		if m.vocab, err = newVocabulary(f.Vocab, path); err != nil {
			return nil, err
		}
	}
	if cfg.vocabPath != "" {
		v, err := loadVocabulary(cfg.vocabPath)
		if err != nil {
			return nil, err
		}
		if m.vocab != nil {
			if err := sameWords(path, m.vocab.words, cfg.vocabPath, v.words); err != nil {
				return nil, err
			}
		}
		m.vocab = v
	}
	if m.vocab != nil && len(m.vocab.words) != m.net.Tokens() {
		source := cfg.vocabPath
		if source == "" {
			source = "the file"
		}
		return nil, mark(ErrVocabulary, "%s: model has %d tokens but the vocabulary of %s has %d words (a different corpus than the model was trained on?)",
			path, m.net.Tokens(), source, len(m.vocab.words))
	}
	return m, nil
}

func sameWords(path string, a []string, vpath string, b []string) error {
	if len(a) != len(b) {
		return mark(ErrVocabulary, "%s: the file's vocabulary has %d words but %s has %d", path, len(a), vpath, len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			return mark(ErrVocabulary, "%s: word %d is %q in the model's vocabulary but %q in %s", path, i, a[i], b[i], vpath)
		}
	}
	return nil
}

// Quantize returns the model quantized dynamically with scheme, any name
// that `lstmq quantize --scheme` takes ("pytorch" is quantize_dynamic's
// int8; "channel", "block64", "…-act8", "…-emb8"). The new model shares the
// vocabulary and the worker pool. It fails with ErrQuantized when m is
// already quantized.
func (m *Model) Quantize(scheme string) (*Model, error) {
	s, err := quant.ParseScheme(scheme)
	if err != nil {
		return nil, mark(ErrScheme, "%w", err)
	}
	if m.file.Params == nil || m.scheme != "fp32" {
		return nil, mark(ErrQuantized, "%s: already quantized (%s); open the float32 .pth to quantize it", m.file.Path, m.scheme)
	}
	net, err := m.file.Quantize(s)
	if err != nil {
		return nil, err
	}
	q := *m
	// The quantized model keeps no reference to the float32 parameters,
	// so that they are freed with m.
	q.file = &modelfile.File{Path: m.file.Path, Model: net, Vocab: m.file.Vocab, Scheme: s.String()}
	q.net, q.scheme = net, s.String()
	return &q, nil
}

// Scheme returns "fp32" or the quantization scheme the model runs.
func (m *Model) Scheme() string { return m.scheme }

// Type returns the recurrent cell as the example's --model flag names it:
// "LSTM", "GRU", "RNN_TANH" or "RNN_RELU".
func (m *Model) Type() string { return m.net.Kind().String() }

// Threads returns how many threads the model's products use.
func (m *Model) Threads() int { return m.pool.Threads() }

// Vocabulary returns the model's words in id order (nil without one).
func (m *Model) Vocabulary() []string {
	if m.vocab == nil {
		return nil
	}
	return append([]string(nil), m.vocab.words...)
}

// Tokens returns the vocabulary size the model was built for (ntoken).
func (m *Model) Tokens() int { return m.net.Tokens() }

// String prints the model as PyTorch's print(model) does.
func (m *Model) String() string { return m.net.String() }

// Tokenize maps text, split as Score splits it, to word ids. A word
// outside the vocabulary maps to <unk> with unknown set, or fails with
// ErrUnknownWord when the vocabulary has no <unk>.
func (m *Model) Tokenize(text string) ([]Token, error) {
	if err := m.needVocab(); err != nil {
		return nil, err
	}
	ws, err := m.split(text)
	if err != nil {
		return nil, err
	}
	toks := make([]Token, len(ws))
	for i, w := range ws {
		id, unk, err := m.vocab.lookup(w)
		if err != nil {
			return nil, err
		}
		toks[i] = Token{Word: w, ID: id, Unknown: unk}
	}
	return toks, nil
}

// Token is a word of the input and its id.
type Token struct {
	Word    string
	ID      int32
	Unknown bool // not in the vocabulary: ID is <unk>'s
}

func (m *Model) split(text string) ([]string, error) {
	ws, err := corpus.Split(text)
	if err != nil {
		return nil, mark(ErrInput, "%w", err)
	}
	if len(ws) > m.cfg.maxWords {
		return nil, mark(ErrInput, "%d words, more than the limit of %d", len(ws), m.cfg.maxWords)
	}
	return ws, nil
}

func (m *Model) needVocab() error {
	if m.vocab == nil {
		return mark(ErrVocabulary, "%s: no vocabulary: open the model with WithVocabulary", m.file.Path)
	}
	return nil
}
