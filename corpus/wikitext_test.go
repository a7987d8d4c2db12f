package corpus

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// wikitext2 is the shared WikiText-2 folder (valid.txt and test.txt only).
var wikitext2 = filepath.Join("..", "..", "shared", "data", "wikitext-2")

func needWikitext(tb testing.TB) {
	tb.Helper()
	for _, f := range []string{"valid.txt", "test.txt"} {
		if _, err := os.Stat(filepath.Join(wikitext2, f)); err != nil {
			tb.Skipf("WikiText-2 not available: %v", err)
		}
	}
}

// TestWikitext2 loads a corpus whose train split is WikiText-2's valid.txt
// and whose valid and test splits are its test.txt (train.txt is not on
// these machines). The expected values come from data.py's Corpus run on the
// same files, and torch's batchify and get_batch (PyTorch 1.13).
func TestWikitext2(t *testing.T) {
	needWikitext(t)
	dir := t.TempDir()
	for link, target := range map[string]string{"train.txt": "valid.txt", "valid.txt": "test.txt", "test.txt": "test.txt"} {
		abs, err := filepath.Abs(filepath.Join(wikitext2, target))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(abs, filepath.Join(dir, link)); err != nil {
			t.Skipf("cannot symlink: %v", err)
		}
	}
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Dict.Len(); n != 18328 {
		t.Errorf("dictionary has %d words, want 18328", n)
	}
	if len(c.Train) != 217646 || len(c.Valid) != 245569 || len(c.Test) != 245569 {
		t.Errorf("split lengths %d %d %d, want 217646 245569 245569", len(c.Train), len(c.Valid), len(c.Test))
	}
	if want := []string{EOS, "=", "Homarus", "gammarus", ",", "known", "as", "the", "European", "lobster", "or", "common"}; !slices.Equal(c.Dict.Words()[:12], want) {
		t.Errorf("first words %q, want %q", c.Dict.Words()[:12], want)
	}
	if want := []int32{0, 1, 2, 3, 1, 0, 0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 9, 4, 12}; !slices.Equal(c.Train[:20], want) {
		t.Errorf("first ids %v, want %v", c.Train[:20], want)
	}
	for w, want := range map[string]int32{"the": 7, "<unk>": 16, ".": 26, "polling": 18327} {
		if id, ok := c.Dict.ID(w); !ok || id != want {
			t.Errorf("ID(%q) = %d, %v; want %d", w, id, ok, want)
		}
	}

	b := Batchify(c.Train, 10)
	if b.Steps != 21764 || b.Batch != 10 {
		t.Fatalf("Batchify: %d×%d, want 21764×10", b.Steps, b.Batch)
	}
	for _, r := range []struct {
		t    int
		want []int32
	}{
		{0, []int32{0, 16, 55, 1248, 8711, 70, 947, 59, 2016, 26}},
		{1, []int32{1, 3552, 59, 4, 70, 16, 1776, 3979, 30, 0}},
		{21763, []int32{16, 5970, 16, 310, 352, 52, 13, 7, 5162, 4148}},
	} {
		if got := b.IDs[r.t*10 : (r.t+1)*10]; !slices.Equal(got, r.want) {
			t.Errorf("row %d = %v, want %v", r.t, got, r.want)
		}
	}
	x, y := b.Get(21761, 35) // seqLen 2
	wantX := []int32{3832, 804, 77, 6705, 6, 1280, 16, 2120, 5171, 1, 16, 7, 7, 4, 346, 26, 11585, 15, 12890, 3222}
	wantY := []int32{16, 7, 7, 4, 346, 26, 11585, 15, 12890, 3222, 16, 5970, 16, 310, 352, 52, 13, 7, 5162, 4148}
	if !slices.Equal(x, wantX) || !slices.Equal(y, wantY) {
		t.Errorf("Get(21761, 35) = %v, %v; want %v, %v", x, y, wantX, wantY)
	}
}

func BenchmarkTokenize(b *testing.B) {
	needWikitext(b)
	data, err := os.ReadFile(filepath.Join(wikitext2, "valid.txt"))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("file=valid.txt", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := TokenizeReader(bytes.NewReader(data), "valid.txt", NewDictionary()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
