package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/lstmq/lstmq/internal/atomicfile"
)

// MaxHeader is the largest header length Read accepts (100 MB).
const MaxHeader = 100 << 20

// DType is a tensor element type as the header names it.
type DType string

const (
	BOOL    DType = "BOOL"
	U8      DType = "U8"
	I8      DType = "I8"
	I16     DType = "I16"
	U16     DType = "U16"
	F16     DType = "F16"
	BF16    DType = "BF16"
	I32     DType = "I32"
	U32     DType = "U32"
	F32     DType = "F32"
	F64     DType = "F64"
	I64     DType = "I64"
	U64     DType = "U64"
	F8E4M3  DType = "F8_E4M3"
	F8E5M2  DType = "F8_E5M2"
	metaKey       = "__metadata__"
)

// Size returns the element size in bytes, or 0 for an unknown type.
func (d DType) Size() int {
	switch d {
	case BOOL, U8, I8, F8E4M3, F8E5M2:
		return 1
	case I16, U16, F16, BF16:
		return 2
	case I32, U32, F32:
		return 4
	case F64, I64, U64:
		return 8
	}
	return 0
}

// Tensor is one named tensor: row-major little-endian data of Shape.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte // nil for a tensor of a File from Open: its data stays in the file

	src io.ReaderAt // Open: the file, and the offset of the data in it
	off int64
}

// Numel returns the number of elements, the product of Shape.
func (t *Tensor) Numel() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// File is a parsed safetensors file.
type File struct {
	Tensors  []Tensor // in the order of their data
	Metadata map[string]string
	byName   map[string]int
	file     *os.File // Open's file, closed by Close
}

// Tensor returns the tensor called name.
func (f *File) Tensor(name string) (*Tensor, bool) {
	i, ok := f.byName[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

type headerEntry struct {
	DType       DType    `json:"dtype"`
	Shape       []int64  `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// Read reads and checks the safetensors file at path (see ReadBytes and
// Parse).
func Read(path string) (*File, error) {
	b, err := ReadBytes(path)
	if err != nil {
		return nil, err
	}
	return Parse(b, path)
}

// Open reads and checks the header of the safetensors file at path, as
// ReadBytes does, and returns the file without reading its data: each
// tensor's Data is nil, and F32, I8, U8 and I32 read the values straight
// from the file into the slice they return, so that a model is never in
// memory twice. Close the File when done.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	sf, _, err := readHeader(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	sf.file = f
	return sf, nil
}

// Close closes the file that Open opened; it does nothing for a File from
// Parse.
func (f *File) Close() error {
	if f.file == nil {
		return nil
	}
	err := f.file.Close()
	f.file = nil
	return err
}

// readHeader reads and checks the header of the open file f (named path)
// against its size: the File with each tensor's data left in f, and the
// header's 8-byte prefix and JSON.
func readHeader(f *os.File, path string) (*File, []byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("read %s: not a regular file", path)
	}
	size := st.Size()
	var prefix [8]byte
	if _, err := io.ReadFull(f, prefix[:]); err != nil {
		return nil, nil, fmt.Errorf("read %s: %d bytes, too short for a safetensors header", path, size)
	}
	n, err := headerLen(prefix[:], size, path)
	if err != nil {
		return nil, nil, err
	}
	hdr := make([]byte, 8+n)
	copy(hdr, prefix[:])
	if _, err := io.ReadFull(f, hdr[8:]); err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	sf, offsets, err := parseHeader(hdr[8:], size-8-int64(n), path)
	if err != nil {
		return nil, nil, err
	}
	for i := range sf.Tensors {
		sf.Tensors[i].src, sf.Tensors[i].off = f, 8+int64(n)+offsets[i][0]
	}
	return sf, hdr, nil
}

// ReadBytes returns the contents of the safetensors file at path, for
// Parse. It reads and checks the header against the file's size first, so
// a file whose header does not describe exactly the bytes that follow it
// (a truncated file, a sparse file of gigabytes) is refused having cost no
// more than its header.
func ReadBytes(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	sf, hdr, err := readHeader(f, path)
	if err != nil {
		return nil, err
	}
	size := int64(len(hdr))
	if k := len(sf.Tensors); k > 0 {
		t := &sf.Tensors[k-1]
		size = t.off + int64(t.Numel()*t.DType.Size())
	}
	b := make([]byte, size)
	copy(b, hdr)
	if _, err := io.ReadFull(f, b[len(hdr):]); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// headerLen returns the header length that prefix, the first 8 bytes of a
// file of size bytes, states, checked against MaxHeader and the size.
func headerLen(prefix []byte, size int64, name string) (int, error) {
	n := binary.LittleEndian.Uint64(prefix)
	if n > MaxHeader {
		return 0, fmt.Errorf("read %s: header length %d exceeds %d", name, n, MaxHeader)
	}
	if n > uint64(size-8) {
		return 0, fmt.Errorf("read %s: header length %d exceeds the file's %d bytes", name, n, size-8)
	}
	return int(n), nil
}

// Parse checks and parses a safetensors file held in b; name is used in
// errors. The tensors' Data alias b.
//
// Layout: an 8-byte little-endian header length N, N bytes of JSON
// {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
// {string: string}}, then the data; offsets are relative to the data's
// start. Parse rejects a header longer than MaxHeader or than the file,
// invalid JSON, duplicate names, unknown dtypes, negative dimensions,
// offsets out of range, sizes that do not match dtype×shape, and
// overlapping tensors or holes in the data (as the reference
// implementation does).
func Parse(b []byte, name string) (*File, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("read %s: %d bytes, too short for a safetensors header", name, len(b))
	}
	n, err := headerLen(b, int64(len(b)), name)
	if err != nil {
		return nil, err
	}
	data := b[8+n:]
	f, offsets, err := parseHeader(b[8:8+n], int64(len(data)), name)
	if err != nil {
		return nil, err
	}
	for i := range f.Tensors {
		o := offsets[i]
		f.Tensors[i].Data = data[o[0]:o[1]:o[1]]
	}
	return f, nil
}

// parseHeader checks the JSON header hdr against a data section of size
// bytes and returns the file without the tensors' Data, and the data
// offsets of each tensor.
func parseHeader(hdr []byte, size int64, name string) (*File, [][2]int64, error) {
	if len(hdr) == 0 || hdr[0] != '{' {
		return nil, nil, fmt.Errorf("read %s: header is not a JSON object", name)
	}
	entries, meta, err := decodeHeader(hdr)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: header: %w", name, err)
	}
	f := &File{Metadata: meta, byName: make(map[string]int, len(entries))}
	offsets := make([][2]int64, 0, len(entries))
	names := make([]string, 0, len(entries))
	for k := range entries {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		a, c := entries[names[i]].DataOffsets, entries[names[j]].DataOffsets
		if a[0] != c[0] {
			return a[0] < c[0]
		}
		return a[1] < c[1]
	})
	var next int64
	for _, k := range names {
		e := entries[k]
		t, err := checkEntry(k, e, size)
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: tensor %q: %w", name, k, err)
		}
		if e.DataOffsets[0] != next {
			what := "overlaps the previous tensor"
			if e.DataOffsets[0] > next {
				what = fmt.Sprintf("leaves a hole at bytes [%d, %d)", next, e.DataOffsets[0])
			}
			return nil, nil, fmt.Errorf("read %s: tensor %q: data offset %d %s", name, k, e.DataOffsets[0], what)
		}
		next = e.DataOffsets[1]
		f.byName[k] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
		offsets = append(offsets, e.DataOffsets)
	}
	if next != size {
		return nil, nil, fmt.Errorf("read %s: %d bytes of data after the last tensor", name, size-next)
	}
	return f, offsets, nil
}

func checkEntry(name string, e headerEntry, size int64) (Tensor, error) {
	es := int64(e.DType.Size())
	if es == 0 {
		return Tensor{}, fmt.Errorf("unknown dtype %q", e.DType)
	}
	numel := int64(1)
	shape := make([]int, len(e.Shape))
	for i, d := range e.Shape {
		if d < 0 {
			return Tensor{}, fmt.Errorf("negative dimension %d in shape %v", d, e.Shape)
		}
		if d > 0 && numel > math.MaxInt64/es/d {
			return Tensor{}, fmt.Errorf("shape %v overflows", e.Shape)
		}
		numel *= d
		shape[i] = int(d)
	}
	begin, end := e.DataOffsets[0], e.DataOffsets[1]
	if begin < 0 || end < begin || end > size {
		return Tensor{}, fmt.Errorf("data offsets [%d, %d] outside the %d bytes of data", begin, end, size)
	}
	if end-begin != numel*es {
		return Tensor{}, fmt.Errorf("%d bytes for %s%v, want %d", end-begin, e.DType, e.Shape, numel*es)
	}
	return Tensor{Name: name, DType: e.DType, Shape: shape}, nil
}

// decodeHeader reads the header object key by key so that duplicate names
// are caught (encoding/json would keep the last one).
func decodeHeader(hdr []byte) (map[string]headerEntry, map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if _, err := dec.Token(); err != nil { // '{', checked by the caller
		return nil, nil, err
	}
	entries := map[string]headerEntry{}
	var meta map[string]string
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		k, ok := tok.(string)
		if !ok {
			return nil, nil, fmt.Errorf("key %v is not a string", tok)
		}
		if seen[k] {
			return nil, nil, fmt.Errorf("duplicate key %q", k)
		}
		seen[k] = true
		if k == metaKey {
			if err := dec.Decode(&meta); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", metaKey, err)
			}
			continue
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", k, err)
		}
		var e headerEntry
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		if err := d.Decode(&e); err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", k, err)
		}
		if e.Shape == nil || !bytes.Contains(raw, []byte(`"data_offsets"`)) || e.DType == "" {
			return nil, nil, fmt.Errorf("tensor %q: needs dtype, shape and data_offsets", k)
		}
		entries[k] = e
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, errors.New("data after the header object")
	}
	return entries, meta, nil
}

// Write atomically writes tensors and metadata to path in safetensors
// format: the data goes to a temporary file in the same directory, which is
// fsynced and renamed over path.
func Write(path string, tensors []Tensor, meta map[string]string) error {
	return atomicfile.WriteFile(path, 0o644, func(w io.Writer) error { return Encode(w, tensors, meta) })
}

// Encode writes tensors and metadata in safetensors format to w, the data
// in the order given, the header padded with spaces to a multiple of 8
// bytes (so that the data is aligned).
func Encode(w io.Writer, tensors []Tensor, meta map[string]string) error {
	hdr := map[string]any{}
	if len(meta) > 0 {
		hdr[metaKey] = meta
	}
	var off int64
	for i := range tensors {
		t := &tensors[i]
		if t.Name == "" || t.Name == metaKey {
			return fmt.Errorf("safetensors: invalid tensor name %q", t.Name)
		}
		if _, dup := hdr[t.Name]; dup {
			return fmt.Errorf("safetensors: duplicate tensor %q", t.Name)
		}
		if t.DType.Size() == 0 {
			return fmt.Errorf("safetensors: tensor %q: unknown dtype %q", t.Name, t.DType)
		}
		if slices.ContainsFunc(t.Shape, func(d int) bool { return d < 0 }) || t.Numel()*t.DType.Size() != len(t.Data) {
			return fmt.Errorf("safetensors: tensor %q: %d bytes for %s%v", t.Name, len(t.Data), t.DType, t.Shape)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		hdr[t.Name] = map[string]any{"dtype": t.DType, "shape": shape,
			"data_offsets": [2]int64{off, off + int64(len(t.Data))}}
		off += int64(len(t.Data))
	}
	js, err := json.Marshal(hdr)
	if err != nil {
		return err
	}
	if pad := (8 - len(js)%8) % 8; pad > 0 {
		js = append(js, strings.Repeat(" ", pad)...)
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(js)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	if _, err := w.Write(js); err != nil {
		return err
	}
	for i := range tensors {
		if _, err := w.Write(tensors[i].Data); err != nil {
			return err
		}
	}
	return nil
}
