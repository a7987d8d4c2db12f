package lstmq

import (
	"bufio"
	"bytes"
	"os"
	"unicode/utf8"

	"github.com/lstmq/lstmq/corpus"
)

// vocabulary maps words to ids and back, in the model's id order.
type vocabulary struct {
	words []string
	ids   map[string]int32
	eos   int32
	unk   int32 // -1: no <unk>
}

func newVocabulary(words []string, source string) (*vocabulary, error) {
	v := &vocabulary{words: words, ids: make(map[string]int32, len(words)), eos: -1, unk: -1}
	for i, w := range words {
		if _, dup := v.ids[w]; dup {
			return nil, mark(ErrVocabulary, "%s: word %q appears twice", source, w)
		}
		v.ids[w] = int32(i)
	}
	if id, ok := v.ids[corpus.EOS]; ok {
		v.eos = id
	} else {
		return nil, mark(ErrVocabulary, "%s: no %s in the vocabulary", source, corpus.EOS)
	}
	if id, ok := v.ids["<unk>"]; ok {
		v.unk = id
	}
	return v, nil
}

// loadVocabulary reads a corpus folder (its dictionary, built from
// train.txt, valid.txt and test.txt as the example's Corpus does) or a
// file of one word per line, in id order, as `lstmq vocab` prints it.
func loadVocabulary(path string) (*vocabulary, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, mark(ErrVocabulary, "vocabulary: %w", err)
	}
	if fi.IsDir() {
		c, err := corpus.Load(path)
		if err != nil {
			return nil, mark(ErrVocabulary, "%w", err) // "load corpus DIR: …"
		}
		return newVocabulary(c.Dict.Words(), path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, mark(ErrVocabulary, "vocabulary: %w", err)
	}
	defer f.Close()
	var words []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, corpus.MaxWord+2)
	for line := 1; sc.Scan(); line++ {
		w := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
		switch {
		case len(w) == 0:
			return nil, mark(ErrVocabulary, "%s: line %d is empty", path, line)
		case !utf8.Valid(w):
			return nil, mark(ErrVocabulary, "%s: line %d is not valid UTF-8", path, line)
		}
		if ws, _ := corpus.Split(string(w)); len(ws) != 1 || ws[0] != string(w) {
			return nil, mark(ErrVocabulary, "%s: line %d is not one word", path, line)
		}
		words = append(words, string(w))
	}
	if err := sc.Err(); err != nil {
		return nil, mark(ErrVocabulary, "%s: %w (a word longer than %d bytes?)", path, err, corpus.MaxWord)
	}
	if len(words) == 0 {
		return nil, mark(ErrVocabulary, "%s: empty vocabulary file", path)
	}
	return newVocabulary(words, path)
}

// lookup returns the id of word: <unk>'s, with unknown true, for a word
// outside the vocabulary when it has <unk>.
func (v *vocabulary) lookup(word string) (id int32, unknown bool, err error) {
	if id, ok := v.ids[word]; ok {
		return id, false, nil
	}
	if v.unk >= 0 {
		return v.unk, true, nil
	}
	return 0, false, mark(ErrUnknownWord, "word %q is not in the vocabulary, which has no <unk>", word)
}
