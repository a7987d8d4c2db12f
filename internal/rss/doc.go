// Package rss reads the peak resident set size of a finished child process
// from its rusage, in bytes: Linux and the BSDs report kilobytes, Darwin
// bytes, and systems without rusage nothing (0).
package rss
