//go:build !linux

package atomicfile

import (
	"errors"
	"os"
)

func createUnnamed(dir string) (*os.File, error) {
	return nil, errors.ErrUnsupported
}

func linkUnnamed(f *os.File, path string) (string, error) {
	return "", errors.ErrUnsupported
}
