package pth

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// fuzzSeeds are the small fixtures the committed seed corpus
// (testdata/fuzz/FuzzLoad) is made of: both formats, valid and hostile.
var fuzzSeeds = []string{
	"tiny.pth", "tiny_legacy.pth", "tiny_p4.pth", "special.pth", "nontensor.pth",
	"posix_system.pth", "posix_system_legacy.pth",
}

var updateFuzzCorpus = flag.Bool("pth.update-fuzz-corpus", false, "rewrite testdata/fuzz/FuzzLoad from the small fixtures")

// FuzzLoad reads arbitrary bytes as a checkpoint, zip or legacy. It must
// never panic; what loads must be consistent and survive a Save round trip.
func FuzzLoad(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzLoad, written by TestWriteFuzzCorpus.
	recoverPanics = false
	f.Cleanup(func() { recoverPanics = true })
	f.Fuzz(func(t *testing.T, b []byte) {
		sd, err := Read(bytes.NewReader(b), int64(len(b)), "fuzz.pth")
		if err != nil {
			return
		}
		if len(sd.Keys) != len(sd.Tensors) {
			t.Fatalf("%d keys, %d tensors", len(sd.Keys), len(sd.Tensors))
		}
		for _, k := range sd.Keys {
			tt := sd.Tensors[k]
			if tt == nil || tt.NumElements() != len(tt.Data) {
				t.Fatalf("%s: inconsistent tensor", k)
			}
		}
		enc, err := encodeZip("fuzz.pth", sd.Keys, sd.Tensors, SaveOptions{Metadata: sd.Metadata})
		if err != nil {
			t.Fatal(err)
		}
		back, err := Read(bytes.NewReader(enc), int64(len(enc)), "fuzz_go.pth")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(back.Metadata, sd.Metadata) {
			t.Fatalf("metadata %v does not round-trip: %v", sd.Metadata, back.Metadata)
		}
		for _, k := range sd.Keys {
			a, c := sd.Tensors[k], back.Tensors[k]
			if !slices.Equal(a.Shape, c.Shape) || !sameBits(a.Data, c.Data) {
				t.Fatalf("%s does not round-trip", k)
			}
		}
	})
}

func sameBits(a, b []float32) bool {
	return sameTensor(&Tensor{Data: a}, &Tensor{Data: b})
}

// TestWriteFuzzCorpus rewrites the committed seed corpus when asked:
//
//	go test ./pth -run TestWriteFuzzCorpus -pth.update-fuzz-corpus
func TestWriteFuzzCorpus(t *testing.T) {
	if !*updateFuzzCorpus {
		t.Skip("run with -pth.update-fuzz-corpus to rewrite testdata/fuzz/FuzzLoad")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzLoad")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range fuzzSeeds {
		b, err := os.ReadFile(filepath.Join(fixtures, name))
		if err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
