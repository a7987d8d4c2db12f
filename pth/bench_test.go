package pth

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func BenchmarkLoad(b *testing.B) {
	// A wide LSTM-sized checkpoint: 8 matrices of 512×1024 float32 (16 MiB).
	dir := b.TempDir()
	big := filepath.Join(dir, "big.pth")
	rng := rand.New(rand.NewPCG(1, 2))
	var keys []string
	ts := map[string]*Tensor{}
	for i := 0; i < 8; i++ {
		k := "w" + strconv.Itoa(i)
		d := make([]float32, 512*1024)
		for j := range d {
			d[j] = rng.Float32()
		}
		keys = append(keys, k)
		ts[k] = &Tensor{Shape: []int{512, 1024}, Data: d}
	}
	if err := Save(big, keys, ts); err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{filepath.Join(fixtures, "deep.pth"), filepath.Join(fixtures, "deep_legacy.pth"),
		filepath.Join(fixtures, "deep_f16.pth"), filepath.Join(fixtures, "deep_noncontig.pth"), big} {
		fi, err := os.Stat(name)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("file="+filepath.Base(name), func(b *testing.B) {
			b.SetBytes(fi.Size())
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Load(name); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSave(b *testing.B) {
	sd, err := Load(filepath.Join(fixtures, "deep.pth"))
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "deep.pth")
	b.ReportAllocs()
	for b.Loop() {
		if err := Save(path, sd.Keys, sd.Tensors); err != nil {
			b.Fatal(err)
		}
	}
}
