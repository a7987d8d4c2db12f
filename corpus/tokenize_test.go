package corpus

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// readers returns ways of feeding s to the tokenizer, so each case runs
// across many buffer boundaries as well as in one piece.
func readers(s string) map[string]func() (io.Reader, int) {
	return map[string]func() (io.Reader, int){
		"whole":   func() (io.Reader, int) { return strings.NewReader(s), readSize },
		"buf16":   func() (io.Reader, int) { return strings.NewReader(s), 16 },
		"onebyte": func() (io.Reader, int) { return iotest.OneByteReader(strings.NewReader(s)), readSize },
		"half":    func() (io.Reader, int) { return iotest.HalfReader(strings.NewReader(s)), 16 },
		"dataerr": func() (io.Reader, int) { return iotest.DataErrReader(strings.NewReader(s)), readSize },
	}
}

// words tokenizes s into a new dictionary, through every reader, checks all
// agree, and returns the words.
func words(t *testing.T, s string) []string {
	t.Helper()
	var first []string
	for name, mk := range readers(s) {
		r, size := mk()
		d := NewDictionary()
		ids, err := tokenize(r, "in.txt", d, size)
		if err != nil {
			t.Fatalf("%q (%s): %v", s, name, err)
		}
		got := make([]string, len(ids))
		for i, id := range ids {
			got[i] = d.Word(id)
		}
		if first == nil {
			first = got
		} else if !slices.Equal(got, first) {
			t.Fatalf("%q: reader %s gives %q, another gives %q", s, name, got, first)
		}
	}
	return first
}

const e = EOS

func TestLines(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", []string{}},
		{"\n", []string{e}},
		{"\n\n", []string{e, e}},
		{"a", []string{"a", e}}, // last line without newline
		{"a\n", []string{"a", e}},
		{"a b\nc", []string{"a", "b", e, "c", e}},
		{"a\r\nb\r\n", []string{"a", e, "b", e}},
		{"a\rb", []string{"a", e, "b", e}}, // lone \r ends a line
		{"a\r", []string{"a", e}},
		{"\r", []string{e}},
		{"\r\n", []string{e}},
		{"\r\r\n", []string{e, e}},
		{"a\r\rb", []string{"a", e, e, "b", e}},
		{"a\n\rb", []string{"a", e, e, "b", e}},
		{"a\r\n\nb", []string{"a", e, e, "b", e}},
		{"a\r\n\r\n", []string{"a", e, e}},
		{"   ", []string{e}},    // a blank last line still counts
		{" \t \n", []string{e}}, // blank line
		{"  x  \n", []string{"x", e}},
		{"a\u2028b\u2029c\n", []string{"a", "b", "c", e}}, // line separators split words, not lines
		{"a\u0085b\x1cc\x1dd\x1ee\x1ff\n", []string{"a", "b", "c", "d", "e", "f", e}}, // same
		{"a\vb\fc", []string{"a", "b", "c", e}},
	} {
		if got := words(t, c.in); !slices.Equal(got, c.want) {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
}

// TestCRLFAcrossReads puts the \r and the \n of a line end in different
// reads, and at a bufio buffer boundary.
func TestCRLFAcrossReads(t *testing.T) {
	pieces := &piecesReader{pieces: []string{"a\r", "\nb\r", "\n\r", "c"}}
	d := NewDictionary()
	ids, err := TokenizeReader(pieces, "in.txt", d)
	if err != nil {
		t.Fatal(err)
	}
	// a <eos> b <eos> <eos> c <eos>
	if want := []int32{0, 1, 2, 1, 1, 3, 1}; !slices.Equal(ids, want) {
		t.Errorf("ids %v, want %v", ids, want)
	}

	s := strings.Repeat("a", 15) + "\r\nb" // \r is the last byte of a 16-byte buffer
	d = NewDictionary()
	ids, err = tokenize(strings.NewReader(s), "in.txt", d, 16)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{0, 1, 2, 1}; !slices.Equal(ids, want) {
		t.Errorf("ids %v, want %v", ids, want)
	}
}

type piecesReader struct{ pieces []string }

func (r *piecesReader) Read(p []byte) (int, error) {
	if len(r.pieces) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.pieces[0])
	r.pieces[0] = r.pieces[0][n:]
	if r.pieces[0] == "" {
		r.pieces = r.pieces[1:]
	}
	return n, nil
}

// pythonSpace is the output of
// [hex(c) for c in range(0x110000) if chr(c).isspace()] in Python 3.11.
var pythonSpace = []rune{
	0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0,
	0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007,
	0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
}

func TestIsSpaceTable(t *testing.T) {
	for r := rune(0); r <= 0x10ffff; r++ {
		if want := slices.Contains(pythonSpace, r); isSpace(r) != want {
			t.Errorf("isSpace(%U) = %v, want %v", r, !want, want)
		}
	}
}

func TestWordSplit(t *testing.T) {
	for _, r := range pythonSpace {
		in := "a" + string(r) + "b" + string(r) + string(r) + "c"
		want := []string{"a", "b", "c", e}
		if r == '\n' || r == '\r' {
			want = []string{"a", e, "b", e, e, "c", e}
		}
		if got := words(t, in); !slices.Equal(got, want) {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
	// Not whitespace to Python, though some are to Unicode or to Go.
	for _, r := range []rune{0, 0x1b, 0x7f, 0x84, 0x86, 0xad, 0x180e, 0x200b, 0x200c, 0x200d, 0x2027, 0x202a, 0x205e, 0x2060, 0x3001, 0xfeff, 0xfffd, 0x10ffff} {
		in := "a" + string(r) + "b c"
		want := []string{"a" + string(r) + "b", "c", e}
		if got := words(t, in); !slices.Equal(got, want) {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func TestBOMStaysInFirstWord(t *testing.T) {
	got := words(t, "\ufeffhi there\n")
	if want := []string{"\ufeffhi", "there", e}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLongWord(t *testing.T) {
	long := strings.Repeat("wörd€𝄞", 20000) // multi-byte runes straddle buffer edges
	got := words(t, "x "+long+"\ny "+long)
	if want := []string{"x", long, e, "y", long, e}; !slices.Equal(got, want) {
		t.Errorf("long word mangled")
	}
}

func TestIDsFirstSeen(t *testing.T) {
	d := NewDictionary()
	ids, err := TokenizeReader(strings.NewReader("the cat\nthe  dog\n"), "a.txt", d)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{0, 1, 2, 0, 3, 2}; !slices.Equal(ids, want) {
		t.Errorf("ids %v, want %v", ids, want)
	}
	// A second file continues the same dictionary.
	ids, err = TokenizeReader(strings.NewReader("a dog\n\n"), "b.txt", d)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{4, 3, 2, 2}; !slices.Equal(ids, want) {
		t.Errorf("ids %v, want %v", ids, want)
	}
	if want := []string{"the", "cat", e, "dog", "a"}; !slices.Equal(d.Words(), want) {
		t.Errorf("words %q, want %q", d.Words(), want)
	}
	if d.Len() != 5 {
		t.Errorf("Len %d, want 5", d.Len())
	}
	if id, ok := d.ID("dog"); !ok || id != 3 {
		t.Errorf("ID(dog) = %d, %v; want 3, true", id, ok)
	}
	if _, ok := d.ID("bird"); ok {
		t.Errorf("ID(bird) found")
	}
	if d.Add("cat") != 1 || d.Add("bird") != 5 || d.Word(5) != "bird" {
		t.Errorf("Add/Word disagree")
	}
	w := d.Words()
	w[0] = "changed"
	if d.Word(0) != "the" {
		t.Errorf("Words returned the dictionary's own slice")
	}
}

func TestInvalidUTF8(t *testing.T) {
	pad := strings.Repeat("word ", 20000)
	for _, c := range []struct {
		in  string
		off int64
		b   byte
	}{
		{"\xff", 0, 0xff},
		{"abc\x80", 3, 0x80},          // lone continuation byte
		{"ok\xed\xa0\x80", 2, 0xed},   // encoded surrogate U+D800
		{"ok\xc0\xaf", 2, 0xc0},       // overlong '/'
		{"ok\xe0\x80\xaf", 2, 0xe0},   // overlong, 3 bytes
		{"\xf4\x90\x80\x80", 0, 0xf4}, // U+110000
		{"a\xe2\x82b", 1, 0xe2},       // sequence cut short by an ASCII byte
		{"a b\xe2\x82", 3, 0xe2},      // sequence cut short by the end of input
		{"x\n\xf0\x9f\x98", 2, 0xf0},
		{"a\r\nb\rc\n\nd\xff", 9, 0xff},
		{pad + "\xfe", int64(len(pad)), 0xfe},
		{pad + "ab\xc3", int64(len(pad)) + 2, 0xc3},
	} {
		for name, mk := range readers(c.in) {
			r, size := mk()
			d := NewDictionary()
			d.Add("before")
			ids, err := tokenize(r, "bad.txt", d, size)
			var ue *UTF8Error
			if !errors.As(err, &ue) {
				t.Errorf("%.20q (%s): err %v, want *UTF8Error", c.in, name, err)
				continue
			}
			// Line ends are \n, \r and \r\n, as in Python's text files.
			p := c.in[:c.off]
			line := int64(1 + strings.Count(p, "\n") + strings.Count(p, "\r") - strings.Count(p, "\r\n"))
			if ue.Name != "bad.txt" || ue.Line != line || ue.Offset != c.off || ue.Byte != c.b {
				t.Errorf("%.20q (%s): %+v, want line %d offset %d byte %#x", c.in, name, *ue, line, c.off, c.b)
			}
			if msg := fmt.Sprintf("bad.txt: invalid UTF-8: byte 0x%02x at line %d (offset %d)", c.b, line, c.off); !strings.Contains(err.Error(), msg) {
				t.Errorf("error %q does not contain %q", err, msg)
			}
			if ids != nil || d.Len() != 1 {
				t.Errorf("%.20q (%s): on error got %d ids, dictionary of %d; want none, 1", c.in, name, len(ids), d.Len())
			}
			if _, ok := d.ID("word"); ok {
				t.Errorf("%.20q (%s): dictionary not rolled back", c.in, name)
			}
		}
	}
	// U+FFFD itself is valid.
	if got := words(t, "\xef\xbf\xbd"); !slices.Equal(got, []string{"\ufffd", e}) {
		t.Errorf("U+FFFD: got %q", got)
	}
}

func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("a b\n"), iotest.ErrReader(boom))
	d := NewDictionary()
	_, err := TokenizeReader(r, "in.txt", d)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "in.txt") {
		t.Errorf("err %v, want boom naming in.txt", err)
	}
	if d.Len() != 0 {
		t.Errorf("dictionary not rolled back: %q", d.Words())
	}
}

func TestTokenizeFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.txt")
	if err := os.WriteFile(path, []byte("b a\r\nb"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := NewDictionary()
	ids, err := Tokenize(path, d)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{0, 1, 2, 0, 2}; !slices.Equal(ids, want) {
		t.Errorf("ids %v, want %v", ids, want)
	}

	missing := filepath.Join(dir, "nope.txt")
	if _, err := Tokenize(missing, d); err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err %v", err)
	}
	empty := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if ids, err := Tokenize(empty, d); err != nil || len(ids) != 0 {
		t.Errorf("empty file: %v, %v; want no ids, no error", ids, err)
	}
}

func writeSplits(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, s := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	writeSplits(t, dir, map[string]string{
		"train.txt": "a b\nb c\n",
		"valid.txt": "c d\n",
		"test.txt":  "e a",
	})
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	// train: a=0 b=1 <eos>=2 c=3; valid: d=4; test: e=5.
	if want := []int32{0, 1, 2, 1, 3, 2}; !slices.Equal(c.Train, want) {
		t.Errorf("train %v, want %v", c.Train, want)
	}
	if want := []int32{3, 4, 2}; !slices.Equal(c.Valid, want) {
		t.Errorf("valid %v, want %v", c.Valid, want)
	}
	if want := []int32{5, 0, 2}; !slices.Equal(c.Test, want) {
		t.Errorf("test %v, want %v", c.Test, want)
	}
	if want := []string{"a", "b", e, "c", "d", "e"}; !slices.Equal(c.Dict.Words(), want) {
		t.Errorf("words %q, want %q", c.Dict.Words(), want)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, c := range []struct {
		files map[string]string
		bad   string // file the error must name
		want  string
	}{
		{map[string]string{"valid.txt": "a", "test.txt": "a"}, "train.txt", "no such file"},
		{map[string]string{"train.txt": "a", "test.txt": "a"}, "valid.txt", "no such file"},
		{map[string]string{"train.txt": "a", "valid.txt": "a"}, "test.txt", "no such file"},
		{map[string]string{"train.txt": "a", "valid.txt": "", "test.txt": "a"}, "valid.txt", "empty"},
		{map[string]string{"train.txt": "a", "valid.txt": "a", "test.txt": "a\xff"}, "test.txt", "invalid UTF-8: byte 0xff at line 1 (offset 1)"},
	} {
		dir := t.TempDir()
		writeSplits(t, dir, c.files)
		_, err := Load(dir)
		if err == nil {
			t.Errorf("%s: no error", c.bad)
			continue
		}
		if path := filepath.Join(dir, c.bad); !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %q does not name %s and say %q", err, path, c.want)
		}
	}
}

func TestEmptyReader(t *testing.T) {
	d := NewDictionary()
	ids, err := TokenizeReader(bytes.NewReader(nil), "empty.txt", d)
	if err != nil || len(ids) != 0 || d.Len() != 0 {
		t.Errorf("got %v, %v, Len %d; want no ids, no error, empty dictionary", ids, err, d.Len())
	}
}

// TestMaxWord checks the word length limit at its edge, with large and
// tiny read buffers, and for a word ending the input without a newline.
func TestMaxWord(t *testing.T) {
	for _, size := range []int{readSize, 16} {
		for _, end := range []string{"\n", " z\n", ""} {
			ok := strings.Repeat("w", MaxWord)
			d := NewDictionary()
			ids, err := tokenize(strings.NewReader("a "+ok+end), "ok.txt", d, size)
			if err != nil || len(ids) < 3 || d.Word(ids[1]) != ok {
				t.Fatalf("size %d end %q: word of MaxWord bytes: %d ids, %v", size, end, len(ids), err)
			}
			d = NewDictionary()
			d.Add("seed")
			_, err = tokenize(strings.NewReader("a "+ok+"w"+end), "long.txt", d, size)
			if err == nil || !strings.Contains(err.Error(), "tokenize long.txt: a word of more than 1048576 bytes") || d.Len() != 1 {
				t.Fatalf("size %d end %q: word of MaxWord+1 bytes: %v, dictionary of %d", size, end, err, d.Len())
			}
		}
	}
	// A word of 2-byte runes crossing MaxWord inside a rune.
	_, err := tokenize(strings.NewReader(strings.Repeat("é", MaxWord/2+1)), "runes.txt", NewDictionary(), 15)
	if err == nil || !strings.Contains(err.Error(), "more than 1048576 bytes") {
		t.Fatalf("long word of runes: %v", err)
	}
}
