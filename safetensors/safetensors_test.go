package safetensors

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// file builds a safetensors file from a raw header and data.
func file(header string, data []byte) []byte {
	b := make([]byte, 8, 8+len(header)+len(data))
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func sample() []Tensor {
	return []Tensor{
		FromF32("w", []int{2, 2}, []float32{1, -2.5, 3e-8, 4}),
		FromI8("q", []int{3}, []int8{-128, 0, 127}),
		FromU8("u", []int{0, 4}, nil),
		FromI32("z", []int{}, []int32{-7}),
	}
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	meta := map[string]string{"vocab": `["a","<unk>"]`, "k": "v"}
	if err := Write(path, sample(), meta); err != nil {
		t.Fatal(err)
	}
	f, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Metadata, meta) {
		t.Errorf("metadata %v, want %v", f.Metadata, meta)
	}
	for _, want := range sample() {
		got, ok := f.Tensor(want.Name)
		if !ok {
			t.Fatalf("no tensor %s", want.Name)
		}
		if got.DType != want.DType || !reflect.DeepEqual(got.Shape, want.Shape) || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("%s: got %s%v %x, want %s%v %x", want.Name, got.DType, got.Shape, got.Data, want.DType, want.Shape, want.Data)
		}
	}
	w, _ := f.Tensor("w")
	v, err := w.F32()
	if err != nil || !reflect.DeepEqual(v, []float32{1, -2.5, 3e-8, 4}) {
		t.Errorf("F32() = %v, %v", v, err)
	}
	if _, err := w.I8(); err == nil {
		t.Error("I8() of an F32 tensor: no error")
	}
	b, _ := os.ReadFile(path)
	if n := binary.LittleEndian.Uint64(b); n%8 != 0 {
		t.Errorf("header length %d not a multiple of 8", n)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries after Write, want 1", len(ents))
	}
}

// TestSpecExample reads a file laid out by hand as the format's
// documentation describes it, independent of Encode.
func TestSpecExample(t *testing.T) {
	hdr := `{"__metadata__":{"format":"pt"},"b":{"dtype":"I8","shape":[2],"data_offsets":[4,6]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`
	data := []byte{0, 0, 0x80, 0x3f, 0xff, 0x05}
	f, err := Parse(file(hdr, data), "spec")
	if err != nil {
		t.Fatal(err)
	}
	if f.Tensors[0].Name != "a" || f.Tensors[1].Name != "b" {
		t.Errorf("tensors in order %s, %s; want a, b (data order)", f.Tensors[0].Name, f.Tensors[1].Name)
	}
	a, _ := f.Tensor("a")
	if v, _ := a.F32(); v[0] != 1 {
		t.Errorf("a = %v, want 1", v)
	}
	b, _ := f.Tensor("b")
	if v, _ := b.I8(); v[0] != -1 || v[1] != 5 {
		t.Errorf("b = %v, want [-1 5]", v)
	}
	if f.Metadata["format"] != "pt" {
		t.Errorf("metadata %v", f.Metadata)
	}
}

func TestBadFiles(t *testing.T) {
	ok := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	huge := make([]byte, 8)
	binary.LittleEndian.PutUint64(huge, MaxHeader+1)
	long := make([]byte, 8)
	binary.LittleEndian.PutUint64(long, 1000)
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"short", []byte{1, 2, 3}, "too short"},
		{"huge header", huge, "exceeds 104857600"},
		{"header past end", append(long, "{}"...), "exceeds the file"},
		{"not object", file(`[1]`, nil), "not a JSON object"},
		{"bad json", file(`{"a":`, nil), "header"},
		{"trailing", file(`{}{}`, nil), "after the header"},
		{"unknown dtype", file(`{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}`, []byte{0}), `tensor "a": unknown dtype "Q4"`},
		{"negative dim", file(`{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}`, nil), `tensor "a": negative dimension`},
		{"overflow", file(`{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, make([]byte, 8)), "overflows"},
		{"past end", file(ok, make([]byte, 4)), `tensor "a": data offsets [0, 8] outside the 4 bytes`},
		{"size mismatch", file(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)), "8 bytes for F32[3], want 12"},
		{"reversed", file(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}`, make([]byte, 4)), "outside"},
		{"overlap", file(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}`, make([]byte, 6)), `tensor "b": data offset 2 overlaps`},
		{"hole", file(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}`, make([]byte, 4)), "hole"},
		{"trailing data", file(ok, make([]byte, 9)), "1 bytes of data after"},
		{"duplicate", file(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}`, nil), `duplicate key "a"`},
		{"missing field", file(`{"a":{"dtype":"U8","shape":[0]}}`, nil), "needs dtype, shape and data_offsets"},
		{"unknown field", file(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"x":1}}`, nil), "unknown field"},
		{"bad metadata", file(`{"__metadata__":{"a":1}}`, nil), "__metadata__"},
	} {
		_, err := Parse(c.b, "bad.safetensors")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.safetensors") {
			t.Errorf("%s: error %v, want one naming the file and containing %q", c.name, err, c.want)
		}
	}
	if _, err := Read(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Read of a missing file: no error")
	}
}

func TestEncodeRejects(t *testing.T) {
	for _, ts := range [][]Tensor{
		{{Name: "", DType: U8}},
		{{Name: "__metadata__", DType: U8}},
		{{Name: "a", DType: "X"}},
		{{Name: "a", DType: F32, Shape: []int{2}, Data: make([]byte, 4)}},
		{FromU8("a", []int{1}, []byte{1}), FromU8("a", []int{1}, []byte{1})},
	} {
		if err := Encode(new(bytes.Buffer), ts, nil); err == nil {
			t.Errorf("Encode(%v): no error", ts)
		}
	}
	// A failed write leaves no file behind.
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := Write(path, []Tensor{{Name: "a", DType: "X"}}, nil); err == nil {
		t.Error("Write with a bad tensor: no error")
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 0 {
		t.Errorf("failed Write left %d files", len(ents))
	}
}

func FuzzRead(f *testing.F) {
	var buf bytes.Buffer
	if err := Encode(&buf, sample(), map[string]string{"k": "v"}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(file(`{"__metadata__":{"format":"pt"}}`, nil))
	f.Add(file(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}`, make([]byte, 6)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		fl, err := Parse(b, "fuzz")
		if err != nil {
			return
		}
		// What parses must survive a round trip unchanged.
		var out bytes.Buffer
		if err := Encode(&out, fl.Tensors, fl.Metadata); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		g, err := Parse(out.Bytes(), "again")
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if len(g.Tensors) != len(fl.Tensors) {
			t.Fatalf("%d tensors after round trip, want %d", len(g.Tensors), len(fl.Tensors))
		}
		for i := range fl.Tensors {
			a, b := fl.Tensors[i], g.Tensors[i]
			if a.Name != b.Name || a.DType != b.DType || !reflect.DeepEqual(a.Shape, b.Shape) || !bytes.Equal(a.Data, b.Data) {
				t.Fatalf("tensor %d changed in the round trip", i)
			}
		}
	})
}

// TestReadBytesChecksHeaderFirst reads a 1 GB sparse file whose header
// describes 4 bytes of data: it must be refused before the data is read,
// allocating little; a valid file reads whole.
func TestReadBytesChecksHeaderFirst(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sparse.safetensors")
	if err := os.WriteFile(path, file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), 0o644); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(path)
	if b, err := ReadBytes(path); err != nil || !bytes.Equal(b, want) {
		t.Fatalf("valid file: %d bytes, %v", len(b), err)
	}
	if err := os.Truncate(path, 1<<30); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ReadBytes(path)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "bytes of data after the last tensor") {
		t.Fatalf("sparse file: %v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("refusing a 1 GB file allocated %d bytes", n)
	}
	for _, tc := range []struct{ content, want string }{
		{"", "too short"},
		{"\xff\xff\xff\xff\xff\xff\xff\xff{}", "header length 18446744073709551615 exceeds"},
		{"\x10\x00\x00\x00\x00\x00\x00\x00{}", "exceeds the file's 2 bytes"},
	} {
		os.WriteFile(path, []byte(tc.content), 0o644)
		if _, err := Read(path); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%q: %v, want %q", tc.content, err, tc.want)
		}
	}
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("folder: %v", err)
	}
}

// TestOpen reads the tensors of an opened file straight from the file: the
// same values as Read's, the same checks on the header, and an error naming
// the tensor when the file is cut short after Open.
func TestOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	meta := map[string]string{"k": "v"}
	if err := Write(path, sample(), meta); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !reflect.DeepEqual(f.Metadata, meta) || len(f.Tensors) != len(sample()) {
		t.Fatalf("metadata %v, %d tensors", f.Metadata, len(f.Tensors))
	}
	get := func(name string) *Tensor {
		t.Helper()
		tn, ok := f.Tensor(name)
		if !ok || tn.Data != nil {
			t.Fatalf("tensor %s: ok %v, data in memory %v", name, ok, tn != nil && tn.Data != nil)
		}
		return tn
	}
	if v, err := get("w").F32(); err != nil || !reflect.DeepEqual(v, []float32{1, -2.5, 3e-8, 4}) {
		t.Errorf("w: F32() = %v, %v", v, err)
	}
	if v, err := get("q").I8(); err != nil || !reflect.DeepEqual(v, []int8{-128, 0, 127}) {
		t.Errorf("q: I8() = %v, %v", v, err)
	}
	if v, err := get("u").U8(); err != nil || len(v) != 0 {
		t.Errorf("u: U8() = %v, %v", v, err)
	}
	if v, err := get("z").I32(); err != nil || !reflect.DeepEqual(v, []int32{-7}) {
		t.Errorf("z: I32() = %v, %v", v, err)
	}
	if _, err := get("w").I8(); err == nil || !strings.Contains(err.Error(), `tensor "w" is F32, want I8`) {
		t.Errorf("I8() of an F32 tensor: %v", err)
	}
	st, _ := os.Stat(path)
	if err := os.Truncate(path, st.Size()-2); err != nil {
		t.Fatal(err)
	}
	if _, err := get("z").I32(); err == nil || !strings.Contains(err.Error(), `tensor "z"`) {
		t.Errorf("tensor cut short after Open: %v", err)
	}
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("truncated file: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Error(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("folder: %v", err)
	}
}

// TestBits16 writes F16 and BF16 tensors and reads their bits back, from
// bytes and from an opened file, and checks the little-endian layout.
func TestBits16(t *testing.T) {
	h := []uint16{0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000}
	ts := []Tensor{FromBits16("h", F16, []int{5}, h), FromBits16("b", BF16, []int{1, 5}, h)}
	if !bytes.Equal(ts[0].Data[:4], []byte{0x00, 0x3c, 0x00, 0xc0}) {
		t.Errorf("F16 bytes %x, want little-endian", ts[0].Data[:4])
	}
	path := filepath.Join(t.TempDir(), "h.safetensors")
	if err := Write(path, ts, nil); err != nil {
		t.Fatal(err)
	}
	for _, open := range []func(string) (*File, error){Read, Open} {
		f, err := open(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range ts {
			got, _ := f.Tensor(want.Name)
			v, err := got.Bits16(want.DType)
			if err != nil || !reflect.DeepEqual(v, h) {
				t.Errorf("%s: Bits16 = %#x, %v", want.Name, v, err)
			}
			if _, err := got.Bits16(F32); err == nil {
				t.Errorf("%s: Bits16(F32): no error", want.Name)
			}
		}
		if got, _ := f.Tensor("h"); got != nil {
			if _, err := got.Bits16(BF16); err == nil {
				t.Error("Bits16(BF16) of an F16 tensor: no error")
			}
		}
		f.Close()
	}
}
