package lmscore

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	"github.com/lstmq/lstmq"
)

// ModelConfig says which model a worker opens and how. It travels with the
// DoFn to the workers (its fields are serialized), and it is the key under
// which a worker process shares one opened model between DoFn instances.
type ModelConfig struct {
	Model  string // model file: a local path or one on a Beam file system
	Vocab  string // corpus folder or vocabulary file; "" if the model carries its own
	Scheme string // "" for float32, else the int8 scheme Model.Quantize takes
	// Nonlinearity is a plain RNN state_dict's, "tanh" or "relu" ("": tanh),
	// as lstmq.WithNonlinearity takes it.
	Nonlinearity string
	Threads      int // threads of the model's products; < 1: GOMAXPROCS
	BatchSize    int // sentences per Score call and padded batch
	MaxWords     int // longest sentence; < 1: lstmq.DefaultMaxWords
	// Job keeps the models of two pipelines run by one process apart, so
	// that each loads its own once (and the metric says so).
	Job string
}

// shared holds the models opened in this process, by configuration: the
// weights are loaded once per worker process and shared read-only by every
// DoFn instance, each with its own Session.
var shared = struct {
	sync.Mutex
	m map[ModelConfig]*sharedModel
}{m: map[ModelConfig]*sharedModel{}}

type sharedModel struct {
	refs int // DoFn instances holding it or waiting for it (under shared)

	mu    sync.Mutex // held while opening
	model *lstmq.Model
}

// acquire returns the model of cfg, opening it if no instance in this
// process has; loaded reports whether this call opened it. Every
// successful acquire is paired with a release.
func acquire(ctx context.Context, cfg ModelConfig) (m *lstmq.Model, loaded bool, err error) {
	shared.Lock()
	e := shared.m[cfg]
	if e == nil {
		e = &sharedModel{}
		shared.m[cfg] = e
	}
	e.refs++
	shared.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.model == nil {
		if e.model, err = openModel(ctx, cfg); err != nil {
			release(cfg) // a later Setup (the runner's retry) tries again
			return nil, false, err
		}
		loaded = true
	}
	return e.model, loaded, nil
}

// release drops a reference to cfg's model; the last one frees it.
func release(cfg ModelConfig) {
	shared.Lock()
	defer shared.Unlock()
	if e := shared.m[cfg]; e != nil {
		if e.refs--; e.refs <= 0 {
			delete(shared.m, cfg)
		}
	}
}

// openModel opens cfg's model, copying files on Beam file systems to a
// temporary folder first (lstmq.Open reads a file once, so the copies are
// removed at once).
func openModel(ctx context.Context, cfg ModelConfig) (*lstmq.Model, error) {
	model, vocab := cfg.Model, cfg.Vocab
	if onBeamFS(model) || onBeamFS(vocab) {
		dir, err := os.MkdirTemp("", "lstmq-model-")
		if err != nil {
			return nil, fmt.Errorf("open model: %w", err)
		}
		defer os.RemoveAll(dir)
		if onBeamFS(model) {
			model = filepath.Join(dir, "model", baseName(cfg.Model))
			if err := fetch(ctx, cfg.Model, model); err != nil {
				return nil, err
			}
		}
		if onBeamFS(vocab) {
			if vocab, err = fetchVocab(ctx, cfg.Vocab, filepath.Join(dir, "vocab")); err != nil {
				return nil, err
			}
		}
	}
	opts := []lstmq.Option{lstmq.WithThreads(cfg.Threads), lstmq.WithBatchSize(cfg.BatchSize), lstmq.WithMaxWords(cfg.MaxWords),
		lstmq.WithNonlinearity(cfg.Nonlinearity)}
	if vocab != "" {
		opts = append(opts, lstmq.WithVocabulary(vocab))
	}
	m, err := lstmq.Open(model, opts...)
	if err != nil {
		if model != cfg.Model || vocab != cfg.Vocab {
			return nil, fmt.Errorf("open model %s (vocabulary %q, copied to this worker): %w", cfg.Model, cfg.Vocab, err)
		}
		return nil, fmt.Errorf("open model: %w", err)
	}
	if m.Vocabulary() == nil {
		return nil, fmt.Errorf("open model: %s has no vocabulary of its own: give a corpus folder or a vocabulary file", cfg.Model)
	}
	if cfg.Scheme == "" {
		return m, nil
	}
	q, err := m.Quantize(cfg.Scheme)
	if err != nil {
		return nil, fmt.Errorf("open model: quantize %s: %w", cfg.Model, err)
	}
	return q, nil
}

// onBeamFS reports whether path names a file through a scheme (gs://,
// s3://, memfs:// …), which only Beam's file systems read.
func onBeamFS(path string) bool { return strings.Index(path, "://") > 0 }

// baseName is the last element of a path with or without a scheme.
func baseName(path string) string {
	path = strings.TrimRight(path, "/")
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		path = path[i+1:]
	}
	if path == "" || path == "." || path == ".." {
		return "file"
	}
	return path
}

// joinPath appends name to a folder path with or without a scheme.
func joinPath(dir, name string) string { return strings.TrimRight(dir, "/") + "/" + name }

// corpusFiles are the files of a corpus folder that lstmq.WithVocabulary
// reads.
var corpusFiles = []string{"train.txt", "valid.txt", "test.txt"}

// fetchVocab copies a vocabulary from a Beam file system to dir: a corpus
// folder when src/train.txt exists, else one vocabulary file. It returns
// the local path to give lstmq.WithVocabulary.
func fetchVocab(ctx context.Context, src, dir string) (string, error) {
	fs, err := filesystem.New(ctx, src)
	if err != nil {
		return "", fmt.Errorf("vocabulary %s: %w", src, err)
	}
	defer fs.Close()
	if found, _ := fs.List(ctx, joinPath(src, corpusFiles[0])); len(found) > 0 {
		for _, name := range corpusFiles {
			if err := fetch(ctx, joinPath(src, name), filepath.Join(dir, name)); err != nil {
				return "", err
			}
		}
		return dir, nil
	}
	dst := filepath.Join(dir, baseName(src))
	return dst, fetch(ctx, src, dst)
}

// fetch copies src, a path on any of Beam's registered file systems (the
// local one included), to the local file dst.
func fetch(ctx context.Context, src, dst string) (err error) {
	fs, err := filesystem.New(ctx, src)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", src, err)
	}
	defer fs.Close()
	rc, err := fs.OpenRead(ctx, src)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", src, err)
	}
	defer rc.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("fetch %s: %w", src, err)
	}
	f, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", src, err)
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return fmt.Errorf("fetch %s: %w", src, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("fetch %s: %w", src, err)
	}
	return nil
}
