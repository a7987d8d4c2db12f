// Package cli implements the lstmq command line: one cobra command per file,
// each a thin layer that parses flags and calls the library packages.
//
// Exit codes: 0 success, 1 bad input or failed work, 2 bad usage.
package cli
