package corpus

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf8"
)

// EOS is the word appended to every line.
const EOS = "<eos>"

// MaxWord is the longest word, in bytes, that TokenizeReader accepts.
// Python's str.split() has no limit, but a "word" of more than a megabyte
// is not text, and holding one whole would let a single line of a hostile
// file take memory without bound.
const MaxWord = 1 << 20

// readSize is the size of the bufio.Reader buffer used by TokenizeReader.
const readSize = 64 << 10

// A UTF8Error reports input that is not valid UTF-8: a byte that does not
// start a well-formed sequence, an encoded surrogate, an overlong form, a
// code point past U+10FFFF, or a sequence cut short by the end of the input.
type UTF8Error struct {
	Name   string // file name, as given to TokenizeReader
	Line   int64  // line of the first bad byte, from 1
	Offset int64  // offset in the input of the first bad byte, from 0
	Byte   byte   // value of that byte
}

func (e *UTF8Error) Error() string {
	return fmt.Sprintf("tokenize %s: invalid UTF-8: byte 0x%02x at line %d (offset %d)", e.Name, e.Byte, e.Line, e.Offset)
}

// isSpace reports whether Python's str.isspace is true for r, which is the
// set str.split() splits on: the characters of bidirectional type WS, B or S,
// or of category Zs.
func isSpace(r rune) bool {
	switch {
	case r <= ' ':
		return r == ' ' || '\t' <= r && r <= '\r' || 0x1c <= r && r <= 0x1f
	case r < 0x85:
		return false
	}
	switch r {
	case 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000:
		return true
	}
	return 0x2000 <= r && r <= 0x200a
}

// Byte classes of the tokenizer's fast path.
const (
	classWord    = iota // ASCII, not whitespace: part of a word
	classSpace          // ASCII whitespace other than \n and \r
	classNewline        // \n
	classReturn         // \r
	classMulti          // first byte of a multi-byte sequence, or an invalid byte
)

var byteClass = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c == '\n':
			t[c] = classNewline
		case c == '\r':
			t[c] = classReturn
		case c >= utf8.RuneSelf:
			t[c] = classMulti
		case isSpace(rune(c)):
			t[c] = classSpace
		}
	}
	return t
}()

// Tokenize returns the ids of the words of the file at path, adding new
// words to d; see TokenizeReader.
func Tokenize(path string, d *Dictionary) ([]int32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokenize: %w", err) // *PathError names the file
	}
	defer f.Close()
	return TokenizeReader(f, path, d)
}

// TokenizeReader returns the ids of the words read from r, line by line, each
// line followed by EOS, adding words not yet in d in the order they are first
// seen. It is data.py's Corpus.tokenize; see the package documentation for
// what makes a line and a word. Empty input gives no ids and no error.
//
// The input is streamed: memory holds the current word, not the line. name
// identifies the input in errors. On error, TokenizeReader returns no ids
// and leaves d as it found it.
func TokenizeReader(r io.Reader, name string, d *Dictionary) ([]int32, error) {
	return tokenize(r, name, d, readSize)
}

func tokenize(r io.Reader, name string, d *Dictionary, bufSize int) ([]int32, error) {
	n0 := d.Len()
	t := tokenizer{d: d, eos: -1}
	if err := t.run(bufio.NewReaderSize(r, bufSize)); err != nil {
		d.truncate(n0)
		var ue *UTF8Error
		if errors.As(err, &ue) {
			ue.Name = name
			return nil, ue
		}
		return nil, fmt.Errorf("tokenize %s: %w", name, err)
	}
	return t.ids, nil
}

var (
	errDictFull = errors.New("dictionary full: more than 2147483647 distinct words")
	errLongWord = fmt.Errorf("a word of more than %d bytes (MaxWord)", MaxWord)
)

// A tokenizer holds the state of TokenizeReader between buffer refills.
type tokenizer struct {
	d    *Dictionary
	ids  []int32
	eos  int32 // id of EOS, or -1 before it is first needed
	line int64 // lines ended so far

	word    []byte // the start of a word in progress that began in an earlier buffer
	inWord  bool   // a word is in progress
	inLine  bool   // a character has been read since the last line ended
	afterCR bool   // the last character was \r, so a \n next is part of that line end
}

func (t *tokenizer) run(br *bufio.Reader) error {
	var off int64 // input offset of the first unconsumed byte
	keep := 0     // unconsumed bytes: an incomplete UTF-8 sequence
	for {
		// Wait for at least one byte past the kept ones.
		if _, err := br.Peek(keep + 1); err != nil {
			if err != io.EOF {
				return err
			}
			if keep > 0 {
				b, _ := br.Peek(1)
				return &UTF8Error{Line: t.line + 1, Offset: off, Byte: b[0]}
			}
			break
		}
		buf, _ := br.Peek(br.Buffered())
		n, err := t.scan(buf)
		if err != nil {
			if ue, ok := err.(*UTF8Error); ok {
				ue.Offset += off
			}
			if err == errLongWord {
				return fmt.Errorf("%w, at line %d (offset %d)", err, t.line+1, off+int64(n))
			}
			return err
		}
		br.Discard(n)
		off += int64(n)
		keep = len(buf) - n
	}
	// A last line without a line end still counts.
	if t.inLine {
		if err := t.endWord(nil); err != nil {
			if err == errLongWord {
				return fmt.Errorf("%w, at line %d (offset %d)", err, t.line+1, off)
			}
			return err
		}
		return t.endLine()
	}
	return nil
}

// scan tokenizes buf up to but not including an incomplete UTF-8 sequence at
// its end, and returns the number of bytes it consumed. A *UTF8Error it
// returns has an offset relative to buf.
func (t *tokenizer) scan(buf []byte) (int, error) {
	start := 0 // start in buf of the word in progress, if t.inWord
	i := 0
	for i < len(buf) {
		c := buf[i]
		switch byteClass[c] {
		case classWord:
			t.afterCR = false
			t.inLine = true
			if !t.inWord {
				t.inWord = true
				start = i
			}
			i++
			for i < len(buf) && byteClass[buf[i]] == classWord {
				i++
			}
			continue
		case classSpace:
			t.afterCR = false
			t.inLine = true
			if err := t.endWord(buf[start:i]); err != nil {
				return i, err
			}
		case classNewline:
			if t.afterCR {
				t.afterCR = false // the \n of \r\n
				break
			}
			if err := t.endWord(buf[start:i]); err != nil {
				return i, err
			}
			if err := t.endLine(); err != nil {
				return i, err
			}
		case classReturn:
			if err := t.endWord(buf[start:i]); err != nil {
				return i, err
			}
			if err := t.endLine(); err != nil {
				return i, err
			}
			t.afterCR = true
		case classMulti:
			if !utf8.FullRune(buf[i:]) {
				// Incomplete sequence at the end of buf: keep the word
				// so far and wait for more input.
				if t.inWord {
					if len(t.word)+i-start > MaxWord {
						return i, errLongWord
					}
					t.word = append(t.word, buf[start:i]...)
				}
				return i, nil
			}
			r, size := utf8.DecodeRune(buf[i:])
			if r == utf8.RuneError && size == 1 {
				return i, &UTF8Error{Line: t.line + 1, Offset: int64(i), Byte: c}
			}
			t.afterCR = false
			t.inLine = true
			if isSpace(r) {
				if err := t.endWord(buf[start:i]); err != nil {
					return i, err
				}
			} else if !t.inWord {
				t.inWord = true
				start = i
			}
			i += size
			continue
		}
		i++
	}
	if t.inWord {
		if len(t.word)+len(buf)-start > MaxWord {
			return len(buf), errLongWord
		}
		t.word = append(t.word, buf[start:]...)
	}
	return len(buf), nil
}

// endWord ends the word in progress, if any, whose last part, in the current
// buffer, is tail, and appends its id.
func (t *tokenizer) endWord(tail []byte) error {
	if !t.inWord {
		return nil
	}
	t.inWord = false
	if len(t.word)+len(tail) > MaxWord {
		return errLongWord
	}
	w := tail
	if len(t.word) > 0 {
		t.word = append(t.word, tail...)
		w = t.word
		t.word = t.word[:0]
	}
	id, ok := t.d.addBytes(w)
	if !ok {
		return errDictFull
	}
	t.ids = append(t.ids, id)
	return nil
}

// endLine appends the id of EOS.
func (t *tokenizer) endLine() error {
	if t.eos < 0 {
		id, ok := t.d.addBytes([]byte(EOS))
		if !ok {
			return errDictFull
		}
		t.eos = id
	}
	t.ids = append(t.ids, t.eos)
	t.inLine = false
	t.line++
	return nil
}
