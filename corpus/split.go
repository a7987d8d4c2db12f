package corpus

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Split returns the words of s as Python's s.split() does: the runs of
// characters between whitespace (str.isspace), none for an empty or blank s.
// It fails on invalid UTF-8 (naming the byte offset) and on a word of more
// than MaxWord bytes.
func Split(s string) ([]string, error) {
	if !utf8.ValidString(s) {
		off := 0
		for off < len(s) {
			r, n := utf8.DecodeRuneInString(s[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return nil, fmt.Errorf("invalid UTF-8: byte 0x%02x at offset %d", s[off], off)
	}
	words := strings.FieldsFunc(s, isSpace)
	for _, w := range words {
		if len(w) > MaxWord {
			return nil, fmt.Errorf("a word of %d bytes, more than %d (MaxWord)", len(w), MaxWord)
		}
	}
	return words, nil
}
