package hostile

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusDir writes a corpus folder whose splits are the real ones except
// those given.
func corpusDir(t *testing.T, name string, splits map[string][]byte) string {
	t.Helper()
	dir := filepath.Join("corpora", name)
	for _, s := range []string{"train.txt", "valid.txt", "test.txt"} {
		b, ok := splits[s]
		if !ok {
			b = read(t, filepath.Join("corpus", s))
		}
		if b == nil {
			continue // missing
		}
		put(t, filepath.Join(dir, s), b)
	}
	return dir
}

// bigFile writes size bytes of repeat to name in work, through a buffer.
func bigFile(t *testing.T, name string, size int, repeat string) string {
	t.Helper()
	path := filepath.Join(work, name)
	os.MkdirAll(filepath.Dir(path), 0o755)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for n := 0; n < size; n += len(repeat) {
		w.WriteString(repeat)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return name
}

func TestCorpora(t *testing.T) {
	train, test := read(t, "corpus/train.txt"), read(t, "corpus/test.txt")
	tests := []struct {
		name, what, file string // file: the one the message must name
		splits           map[string][]byte
		ok               bool
	}{
		{"empty_train", "empty train.txt", "train.txt", map[string][]byte{"train.txt": {}}, false},
		{"missing_test", "missing test.txt", "test.txt", map[string][]byte{"test.txt": nil}, false},
		{"invalid_utf8", "invalid UTF-8 (byte 0xff)", "valid.txt", map[string][]byte{"valid.txt": []byte("fine words\nthen \xff here\n")}, false},
		{"surrogate", "UTF-8 of a surrogate (ED A0 80)", "test.txt", map[string][]byte{"test.txt": []byte("a \xed\xa0\x80 b\n")}, false},
		{"overlong", "overlong UTF-8 (C0 AF)", "train.txt", map[string][]byte{"train.txt": append(bytes.Clone(train), "\xc0\xaf\n"...)}, false},
		{"truncated_utf8", "file ending inside a UTF-8 sequence", "test.txt", map[string][]byte{"test.txt": []byte("a b \xe2\x82")}, false},
		{"nul", "NUL bytes", "", map[string][]byte{"test.txt": append(bytes.Clone(test), "a\x00b c\x00\x00\n\x00\n"...)}, true},
		{"only_newlines", "a split of blank lines", "", map[string][]byte{"test.txt": []byte("\n\n\r\n\r")}, true},
	}
	for _, c := range tests {
		t.Run(c.name, func(t *testing.T) {
			dir := corpusDir(t, c.name, c.splits)
			r := lstmq(t, "vocab", "--data", dir)
			if c.ok {
				wantOK(t, r)
			} else {
				wantFail(t, r, filepath.Join(dir, c.file))
			}
			record(t, "corpus", c.what, r)
			// eval with deep.pth: the dictionary no longer fits the model
			// (valid corpora), or the corpus fails as above.
			r = lstmq(t, "eval", "--model", "deep.pth", "--data", dir, "--max-tokens", "30")
			wantFail(t, r, dir)
			if c.ok {
				record(t, "corpus", c.what+", eval with a model of another dictionary", r)
			}
		})
	}
	t.Run("no_folder", func(t *testing.T) {
		r := lstmq(t, "vocab", "--data", "corpora/none")
		wantFail(t, r, "corpora/none")
		record(t, "corpus", "missing corpus folder", r)
	})
	t.Run("split_is_folder", func(t *testing.T) {
		dir := corpusDir(t, "split_is_folder", map[string][]byte{"train.txt": nil})
		os.MkdirAll(filepath.Join(work, dir, "train.txt"), 0o755)
		r := lstmq(t, "vocab", "--data", dir)
		wantFail(t, r, filepath.Join(dir, "train.txt"))
		record(t, "corpus", "train.txt is a folder", r)
	})
}

// TestGiantLine reads 50 MB corpora of one line with no newline: a
// million words, and one single word (longer than corpus.MaxWord). Memory
// must stay bounded: the tokenizer streams, holding the current word, and
// the ids (4 bytes a word; so the words here are long: 10^7 two-letter
// words would need 40 MB of ids, and 140 MB peak as the slice grows).
func TestGiantLine(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads 100 MB")
	}
	const size = 50 << 20
	for _, c := range []struct{ name, repeat, what string }{
		{"words", strings.Repeat("lorem-ipsum-dolor-sit-amet-", 2) + " ", "one 50 MB line of words, no newline"},
		{"one_word", strings.Repeat("x", 4096), "one 50 MB word, no newline"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := corpusDir(t, "giant_"+c.name, map[string][]byte{"train.txt": nil})
			bigFile(t, filepath.Join(dir, "train.txt"), size, c.repeat)
			r := lstmq(t, "vocab", "--data", dir)
			t.Logf("%s: exit %d, %.1f MB peak, %v", c.name, r.code, float64(r.rss)/(1<<20), r.elapsed)
			if r.code == 0 {
				check(t, r)
			} else {
				wantFail(t, r, filepath.Join(dir, "train.txt"))
			}
			record(t, "corpus", c.what, r)
			os.Remove(filepath.Join(work, dir, "train.txt"))
		})
	}
}
