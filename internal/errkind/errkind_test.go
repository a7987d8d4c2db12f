package errkind

import (
	"errors"
	"io"
	"testing"
)

func TestMark(t *testing.T) {
	kind := errors.New("kind")
	err := Errorf(kind, "file.pth: %w", io.ErrUnexpectedEOF)
	if err.Error() != "file.pth: unexpected EOF" {
		t.Errorf("message %q", err)
	}
	if !errors.Is(err, kind) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("errors.Is misses the kind or the cause")
	}
	if Mark(kind, nil) != nil {
		t.Errorf("Mark(kind, nil) != nil")
	}
}
