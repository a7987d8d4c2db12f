package lstmq

import (
	"errors"

	"github.com/lstmq/lstmq/checkpoint"
	"github.com/lstmq/lstmq/internal/errkind"
	"github.com/lstmq/lstmq/pth"
)

// Errors that callers may test with errors.Is. Messages returned by this
// package start with the file, sentence or field at fault, then the
// problem.
var (
	// ErrVocabulary: no vocabulary, a vocabulary file that cannot be
	// read, or one that does not fit the model.
	ErrVocabulary = errors.New("vocabulary")
	// ErrUnknownWord: a word outside a vocabulary that has no <unk>.
	ErrUnknownWord = errors.New("unknown word")
	// ErrQuantized: Quantize on a model that is already quantized.
	ErrQuantized = errors.New("already quantized")
	// ErrScheme: an unknown quantization scheme.
	ErrScheme = errors.New("quantization scheme")
	// ErrInput: text that is not valid UTF-8, has a word over
	// corpus.MaxWord bytes, or more than the session's words limit.
	ErrInput = errors.New("bad input")
	// ErrOption: an invalid option value.
	ErrOption = errors.New("bad option")

	// ErrTruncated: a model file that ends before its contents do.
	ErrTruncated = pth.ErrTruncated
	// ErrUnsafePickle: a checkpoint whose pickle calls something a
	// state_dict does not need (refused, as torch.load(weights_only=True)
	// does).
	ErrUnsafePickle = pth.ErrUnsafePickle
	// ErrFormat: a file that is not a model file lstmq reads.
	ErrFormat = pth.ErrFormat
	// ErrShape: a tensor whose shape does not fit the model's.
	ErrShape = checkpoint.ErrShape
	// ErrKey: an unknown or missing state_dict key.
	ErrKey = checkpoint.ErrKey
)

// mark returns an error with fmt.Errorf's message that errors.Is finds to
// be kind.
func mark(kind error, format string, a ...any) error { return errkind.Errorf(kind, format, a...) }
