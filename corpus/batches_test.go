package corpus

import (
	"slices"
	"testing"
)

func TestBatchify(t *testing.T) {
	data := []int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10} // 11 ids: 2 are dropped
	b := Batchify(data, 3)
	// data.view(3, -1) = [[0 1 2] [3 4 5] [6 7 8]]; transposed:
	want := []int32{
		0, 3, 6,
		1, 4, 7,
		2, 5, 8,
	}
	if b.Steps != 3 || b.Batch != 3 || !slices.Equal(b.IDs, want) {
		t.Fatalf("got %+v, want Steps 3 Batch 3 IDs %v", *b, want)
	}

	for _, c := range []struct {
		i, bptt int
		x, y    []int32
	}{
		{0, 2, []int32{0, 3, 6, 1, 4, 7}, []int32{1, 4, 7, 2, 5, 8}},
		{0, 1, []int32{0, 3, 6}, []int32{1, 4, 7}},
		{0, 35, []int32{0, 3, 6, 1, 4, 7}, []int32{1, 4, 7, 2, 5, 8}}, // seqLen = Steps-1
		{1, 2, []int32{1, 4, 7}, []int32{2, 5, 8}},                    // seqLen = Steps-1-i = 1
		{2, 2, []int32{}, []int32{}},                                  // seqLen 0
		{5, 2, []int32{}, []int32{}},                                  // past the end
		{0, 0, []int32{}, []int32{}},
	} {
		x, y := b.Get(c.i, c.bptt)
		if !slices.Equal(x, c.x) || !slices.Equal(y, c.y) {
			t.Errorf("Get(%d, %d) = %v, %v; want %v, %v", c.i, c.bptt, x, y, c.x, c.y)
		}
	}
	// Results must not let an append overwrite the batches.
	x, _ := b.Get(0, 1)
	_ = append(x, 99)
	if b.IDs[3] != 1 {
		t.Errorf("append to Get result overwrote IDs")
	}

	h := b.Head(2)
	if h.Steps != 2 || h.Batch != 3 || !slices.Equal(h.IDs, want[:6]) {
		t.Errorf("Head(2) = %+v", *h)
	}
	if h := b.Head(10); h.Steps != 3 || !slices.Equal(h.IDs, want) {
		t.Errorf("Head(10) = %+v, want all", *h)
	}
	if h := b.Head(0); h.Steps != 0 || len(h.IDs) != 0 {
		t.Errorf("Head(0) = %+v", *h)
	}

	if b := Batchify([]int32{1, 2}, 3); b.Steps != 0 || b.Batch != 3 || len(b.IDs) != 0 {
		t.Errorf("Batchify of fewer ids than bsz = %+v", *b)
	}
	if b := Batchify([]int32{4, 5, 6}, 1); b.Steps != 3 || !slices.Equal(b.IDs, []int32{4, 5, 6}) {
		t.Errorf("Batchify bsz 1 = %+v", *b)
	}
}

func TestBatchesPanics(t *testing.T) {
	b := Batchify([]int32{1, 2, 3, 4}, 2)
	for name, f := range map[string]func(){
		"Batchify(0)": func() { Batchify(nil, 0) },
		"Head(-1)":    func() { b.Head(-1) },
		"Get(-1, 1)":  func() { b.Get(-1, 1) },
		"Get(0, -1)":  func() { b.Get(0, -1) },
		"Word(-1)":    func() { NewDictionary().Word(-1) },
		"Word(Len())": func() { NewDictionary().Word(0) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
}
