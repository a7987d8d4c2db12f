package lstmq

import (
	"errors"
	"fmt"
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
)

// kindError gives err the kind of a sentinel for errors.Is without
// changing its message.
type kindError struct{ kind, err error }

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.err, e.kind} }

// mark returns err marked as kind; fmt.Errorf formats the message.
func mark(kind error, format string, a ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, a...)}
}
