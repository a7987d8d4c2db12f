// Package progress reports the progress of long work (evaluation, training,
// quantization, generation, downloads) on a writer, usually standard error.
//
// On a terminal a Bar redraws one line in place with a carriage return, at
// most every TerminalInterval:
//
//	eval  14% [====>                       ] 12000/82000 tokens  6000 tokens/s  ETA 12s
//
// Anywhere else (a pipe, a log file) it prints whole lines, at most every
// PlainInterval, and never a carriage return:
//
//	eval: 12000/82000 tokens (14.6%), 6000 tokens/s, ETA 12s
//
// The rate is the mean since the bar was created, r = n / t, and the time
// left is ETA = (total − n) / r. With total ≤ 0 (unknown) only the count and
// rate are shown. The unit "B" is shown in kB/MB/GB.
//
// A nil *Bar is valid and every method on it is a no-op, and New returns nil
// for a nil writer or io.Discard, so library code can report progress
// unconditionally and callers that do not want it pay one nil check per call.
package progress
