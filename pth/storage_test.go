package pth

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
)

// value is element i of the storages of TestStorageViews: k/8 for
// |k| ≤ 128, exact in every dtype read (bfloat16 has 8 significant bits).
func value(i int) float32 { return float32(i%257-128) / 8 }

// encode writes value(0 … n-1) as a storage of dtype.
func encode(dtype string, n int) []byte {
	var b []byte
	for i := range n {
		v := value(i)
		switch dtype {
		case "FloatStorage":
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		case "BFloat16Storage":
			b = binary.LittleEndian.AppendUint16(b, uint16(math.Float32bits(v)>>16))
		case "DoubleStorage":
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(float64(v)))
		case "LongStorage":
			b = binary.LittleEndian.AppendUint64(b, uint64(int64(v*8)))
		}
	}
	return b
}

// TestStorageViews reads views of storages that span several read chunks
// (chunk bytes): whole, part, strided and transposed, and compares each
// element with value(storage index).
func TestStorageViews(t *testing.T) {
	const n = 3*chunk/8 + 77 // > 3 chunks of float64, > 1 of bfloat16
	type tc struct {
		name          string
		offset        int64
		shape, stride []int64
		index         func(i int) int // storage index of element i of the result
	}
	views := []tc{
		{"whole", 0, []int64{n}, []int64{1}, func(i int) int { return i }},
		{"part", 5, []int64{n - 9}, []int64{1}, func(i int) int { return 5 + i }},
		{"2d", 3, []int64{(n - 3) / 100, 100}, []int64{100, 1}, func(i int) int { return 3 + i }},
		{"strided", 1, []int64{n / 2}, []int64{2}, func(i int) int { return 1 + 2*i }},
		{"transposed", 0, []int64{100, n / 100}, []int64{1, 100}, func(i int) int { return i%(n/100)*100 + i/(n/100) }},
	}
	for _, class := range []string{"FloatStorage", "BFloat16Storage", "DoubleStorage", "LongStorage"} {
		data := encode(class, n)
		for _, v := range views {
			t.Run(class+"/"+v.name, func(t *testing.T) {
				b := makeZip(t, entry{name: "archive/data.pkl", data: tensorPickle("w", class, n, v.offset, v.shape, v.stride)},
					entry{name: "archive/data/0", data: data})
				sd, err := readBytes(b, "views.pth")
				if err != nil {
					t.Fatal(err)
				}
				w := sd.Tensors["w"]
				numel := w.NumElements()
				for i := range numel {
					want := value(v.index(i))
					var got float32
					if class == "LongStorage" {
						got = float32(w.Int64[i]) / 8
					} else {
						got = w.Data[i]
					}
					if got != want {
						t.Fatalf("element %d of %d: %v, want %v", i, numel, got, want)
					}
				}
			})
		}
	}
}

// TestStorageCRC checks that a storage's CRC is checked however its
// tensors read it: whole, in part (the rest is read to check it), strided.
func TestStorageCRC(t *testing.T) {
	const n = chunk/4 + 10
	data := encode("FloatStorage", n)
	for _, v := range []struct {
		name          string
		offset        int64
		shape, stride []int64
	}{
		{"whole", 0, []int64{n}, []int64{1}},
		{"head", 0, []int64{10}, []int64{1}},
		{"tail", n - 10, []int64{10}, []int64{1}},
		{"strided", 0, []int64{n / 2}, []int64{2}},
	} {
		t.Run(v.name, func(t *testing.T) {
			pkl := entry{name: "archive/data.pkl", data: tensorPickle("w", "FloatStorage", n, v.offset, v.shape, v.stride)}
			good := makeZip(t, pkl, entry{name: "archive/data/0", data: data})
			if _, err := readBytes(good, "good.pth"); err != nil {
				t.Fatal(err)
			}
			// The same archive with one flipped bit in the storage, in the
			// middle: outside what the head and tail views read.
			bad := makeZip(t, pkl, entry{name: "archive/data/0", data: data})
			i := bytes.Index(bad, append([]byte("archive/data/0"), data[:8]...))
			if i < 0 {
				t.Fatal("no storage entry")
			}
			bad[i+len("archive/data/0")+2*n] ^= 1
			wantError(t, bad, `storage "0": archive/data/0: zip: checksum error`)
		})
	}
}
