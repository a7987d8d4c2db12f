package errkind

import "fmt"

type kindError struct{ kind, err error }

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.err, e.kind} }

// Mark returns err, which errors.Is also finds to be kind.
func Mark(kind, err error) error {
	if err == nil {
		return nil
	}
	return &kindError{kind: kind, err: err}
}

// Errorf is Mark(kind, fmt.Errorf(format, a...)).
func Errorf(kind error, format string, a ...any) error {
	return Mark(kind, fmt.Errorf(format, a...))
}
