package corpus

import (
	"fmt"
	"path/filepath"
)

// A Corpus is the three splits of a corpus, tokenized with one shared
// dictionary: data.py's Corpus.
type Corpus struct {
	Dict               *Dictionary
	Train, Valid, Test []int32
}

// Load tokenizes dir/train.txt, dir/valid.txt and dir/test.txt, in that
// order, into one dictionary, so that ids are those a model trained by
// PyTorch's word_language_model example on dir uses. A missing, unreadable or
// empty (no tokens) split is an error naming the file.
func Load(dir string) (*Corpus, error) {
	c := &Corpus{Dict: NewDictionary()}
	for _, s := range []struct {
		name string
		dst  *[]int32
	}{
		{"train.txt", &c.Train},
		{"valid.txt", &c.Valid},
		{"test.txt", &c.Test},
	} {
		path := filepath.Join(dir, s.name)
		ids, err := Tokenize(path, c.Dict)
		if err != nil {
			return nil, fmt.Errorf("load corpus %s: %w", dir, err)
		}
		if len(ids) == 0 {
			return nil, fmt.Errorf("load corpus %s: %s is empty", dir, path)
		}
		*s.dst = ids
	}
	return c, nil
}

// Batches holds a token stream laid out for truncated backpropagation through
// time: Steps rows (time) of Batch columns (independent streams), row-major.
// Column b is the b-th of Batch equal consecutive pieces of the stream.
type Batches struct {
	Steps, Batch int
	IDs          []int32 // len Steps*Batch; IDs[t*Batch+b] is step t of stream b
}

// Batchify is main.py's batchify(data, bsz): data is cut to its first
// Steps*bsz ids, Steps = len(data)/bsz, and laid out as
// data.view(bsz, -1).t(), so that
//
//	IDs[t*bsz+b] = data[b*Steps+t]   for 0 <= t < Steps, 0 <= b < bsz.
//
// Batchify panics if bsz < 1.
func Batchify(data []int32, bsz int) *Batches {
	if bsz < 1 {
		panic("corpus: batch size must be positive")
	}
	steps := len(data) / bsz
	ids := make([]int32, steps*bsz)
	for b := range bsz {
		col := data[b*steps : (b+1)*steps]
		for t, id := range col {
			ids[t*bsz+b] = id
		}
	}
	return &Batches{Steps: steps, Batch: bsz, IDs: ids}
}

// Head returns the first n rows, as source[:n] does in PyTorch: all of b if
// n >= Steps. The result shares IDs with b. Head panics if n < 0.
func (b *Batches) Head(n int) *Batches {
	if n < 0 {
		panic("corpus: negative row count")
	}
	n = min(n, b.Steps)
	return &Batches{Steps: n, Batch: b.Batch, IDs: b.IDs[: n*b.Batch : n*b.Batch]}
}

// Get is main.py's get_batch(source, i, bptt): with
// seqLen = min(bptt, Steps-1-i), x is rows i .. i+seqLen-1 and y, the targets,
// is rows i+1 .. i+seqLen, each flattened row-major (Batch ids per row), so
// y[k] is the word that follows x[k] in its stream. Both are empty when
// seqLen <= 0, and both share memory with b.IDs. Get panics if i or bptt is
// negative.
func (b *Batches) Get(i, bptt int) (x, y []int32) {
	if i < 0 || bptt < 0 {
		panic("corpus: negative batch index or length")
	}
	seqLen := min(bptt, b.Steps-1-i)
	if seqLen <= 0 {
		return b.IDs[:0], b.IDs[:0]
	}
	x = b.IDs[i*b.Batch : (i+seqLen)*b.Batch : (i+seqLen)*b.Batch]
	y = b.IDs[(i+1)*b.Batch : (i+1+seqLen)*b.Batch : (i+1+seqLen)*b.Batch]
	return x, y
}
