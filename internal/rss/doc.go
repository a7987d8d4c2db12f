// Package rss reads the peak resident set size of a finished child process
// (Peak) or of this one (Self) from its rusage, in bytes: Linux and the BSDs report kilobytes, Darwin
// bytes, and systems without rusage nothing (0).
package rss
