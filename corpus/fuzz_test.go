package corpus

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

// referenceTokenize is a direct, whole-input transcription of data.py:
// universal newlines as Python's text mode applies them (\r\n, then any
// remaining \r, become \n), lines split after each \n, a trailing empty piece
// dropped, words from strings.FieldsFunc with Python's whitespace set. It
// shares no code with the streaming tokenizer. s must be valid UTF-8.
func referenceTokenize(s string) (words []string, lines int) {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	for _, line := range strings.SplitAfter(s, "\n") {
		if line == "" { // only ever the piece after a final \n, or the empty input
			continue
		}
		lines++
		words = append(words, strings.FieldsFunc(line, func(r rune) bool {
			return slices.Contains(pythonSpace, r)
		})...)
		words = append(words, EOS)
	}
	return words, lines
}

// firstInvalid returns the offset of the first byte that does not begin a
// valid UTF-8 sequence, or -1. Go's utf8 package and Python's strict utf-8
// codec reject the same inputs: surrogates, overlong forms, values past
// U+10FFFF and truncated sequences.
func firstInvalid(b []byte) int64 {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return int64(i)
		}
		i += n
	}
	return -1
}

func FuzzTokenize(f *testing.F) {
	// The seed corpus is in testdata/fuzz/FuzzTokenize.
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDictionary()
		d.Add("seed")
		ids, err := TokenizeReader(bytes.NewReader(data), "fuzz.txt", d)

		// The same input, one byte per read, must give the same result.
		d1 := NewDictionary()
		d1.Add("seed")
		ids1, err1 := tokenize(iotest.OneByteReader(bytes.NewReader(data)), "fuzz.txt", d1, 16)
		if !slices.Equal(ids, ids1) || (err == nil) != (err1 == nil) || !slices.Equal(d.Words(), d1.Words()) {
			t.Fatalf("one-byte reads differ: %v %v vs %v %v", ids, err, ids1, err1)
		}

		if off := firstInvalid(data); off >= 0 {
			var ue *UTF8Error
			if !errors.As(err, &ue) || ue.Offset != off || ue.Byte != data[off] || ue.Name != "fuzz.txt" {
				t.Fatalf("invalid UTF-8 at %d: err %v", off, err)
			}
			if ids != nil || d.Len() != 1 {
				t.Fatalf("on error: %d ids, dictionary of %d", len(ids), d.Len())
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}

		want, lines := referenceTokenize(string(data))
		eos := 0
		got := make([]string, len(ids))
		for i, id := range ids {
			if id < 0 || int(id) >= d.Len() {
				t.Fatalf("id %d out of range [0, %d)", id, d.Len())
			}
			got[i] = d.Word(id)
			if got[i] == EOS {
				eos++
			}
		}
		if eos != lines {
			t.Fatalf("%d <eos>, want %d lines", eos, lines)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
		// Ids are given in first-seen order.
		next := int32(1) // "seed" is 0
		for _, id := range ids {
			if id > next {
				t.Fatalf("id %d given before %d", id, next)
			}
			if id == next {
				next++
			}
		}
		if int(next) != d.Len() {
			t.Fatalf("dictionary has %d words, ids reach %d", d.Len(), next)
		}
	})
}
