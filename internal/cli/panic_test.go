package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// panicWriter panics on the first write: a command writing its output
// then panics, as a bug would.
type panicWriter struct{}

func (panicWriter) Write([]byte) (int, error) { panic("boom\nsecond line") }

// TestRunInternalError: Run, what the lstmq command calls, turns a panic
// into one line and exit code 1, with the stack under LSTMQ_DEBUG=1; Main,
// what the tests and fuzzers call, lets it through.
func TestRunInternalError(t *testing.T) {
	for _, debug := range []string{"", "1"} {
		t.Setenv(DebugEnv, debug)
		var errb bytes.Buffer
		code := Run(context.Background(), []string{"version"}, panicWriter{}, &errb)
		lines := strings.Split(strings.TrimSuffix(errb.String(), "\n"), "\n")
		if code != 1 || lines[0] != "lstmq: internal error: boom second line"+map[string]string{"": " (LSTMQ_DEBUG=1 shows the stack)", "1": ""}[debug] {
			t.Errorf("LSTMQ_DEBUG=%q: exit %d, stderr\n%s", debug, code, errb.String())
		}
		if withStack := strings.Contains(errb.String(), "goroutine "); withStack != (debug == "1") || (debug == "" && len(lines) != 1) {
			t.Errorf("LSTMQ_DEBUG=%q: stack shown %v, %d lines", debug, withStack, len(lines))
		}
	}
	defer func() {
		if p := recover(); p == nil {
			t.Error("Main recovered a panic")
		}
	}()
	Main([]string{"version"}, panicWriter{}, &bytes.Buffer{})
}
