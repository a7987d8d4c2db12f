package pth

import "errors"

// Kinds of errors Read returns, for errors.Is; the messages name the file,
// the place and the problem.
var (
	// ErrTruncated: the file ends before its contents do.
	ErrTruncated = errors.New("truncated file")
	// ErrUnsafePickle: the pickle names a global or a class a state_dict
	// does not need, which is refused rather than called.
	ErrUnsafePickle = errors.New("unsafe pickle")
	// ErrFormat: not a PyTorch checkpoint lstmq reads.
	ErrFormat = errors.New("not a checkpoint")
)
