package cputest

import (
	"testing"

	"github.com/lstmq/lstmq/internal/cpu"
)

// Each runs body as a subtest named after each implementation of f this
// CPU runs (LSTMQ_CPU aside), the reference first, with that
// implementation selected, and restores the one in use afterwards.
func Each(t *testing.T, f *cpu.Family, body func(t *testing.T)) {
	t.Helper()
	old := f.Active()
	defer f.Select(old)
	for _, name := range f.Available() {
		if err := f.Select(name); err != nil {
			t.Fatal(err)
		}
		t.Run(name, body)
	}
}
