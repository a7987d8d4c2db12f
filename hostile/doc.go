// Package hostile holds black-box tests that run the lstmq binary on
// hostile input: truncated and bit-flipped checkpoints and model files,
// pickles that name dangerous globals, zip bombs, absurd shapes, broken
// safetensors headers and damaged corpora. Each run must exit with code 1
// (or 0 where the input is valid), print exactly one line "lstmq: …" naming
// the file on standard error, never panic, and stay under 100 MB of peak
// resident memory (the child's rusage Maxrss).
//
// The package has no code of its own, only tests. The table of what lstmq
// says for each kind of bad input, for the README, is regenerated with
//
//	go test ./hostile -hostile.table
//
// which writes README-table.md from the messages the suite saw.
package hostile
