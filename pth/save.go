package pth

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"strconv"
)

// alignment is the offset alignment of entry data in PyTorch's zip writer.
const alignment = 64

// Save writes tensors in PyTorch's zip format, readable by
// torch.load(path, weights_only=True) and load_state_dict: an OrderedDict
// pickled with protocol 2 in archive/data.pkl whose values are
// torch._utils._rebuild_tensor_v2(storage, 0, shape, row-major stride,
// False, OrderedDict()) with storages named by persistent ids
// ('storage', torch.FloatStorage, "N", "cpu", numel) and stored,
// uncompressed and 64-byte aligned, in archive/data/N; then
// archive/byteorder "little" and archive/version "3".
//
// All storages are float32, whatever Tensor.DType says. Keys whose tensors
// have the same non-empty Storage and equal shapes and data are written as
// one storage referenced by each of them (tied weights), as PyTorch does;
// different views of one storage (say two halves) are written separately.
//
// The file is written atomically: to a temporary file in the same folder,
// synced, then renamed over path.
func Save(path string, keys []string, tensors map[string]*Tensor) error {
	b, err := encodeZip(keys, tensors)
	if err != nil {
		return fmt.Errorf("pth: save %s: %w", path, err)
	}
	if err := writeAtomic(path, b); err != nil {
		return fmt.Errorf("pth: save %s: %w", path, err)
	}
	return nil
}

// encodeZip returns the bytes of the checkpoint Save writes.
func encodeZip(keys []string, tensors map[string]*Tensor) ([]byte, error) {
	type stored struct {
		key string // zip key "N"
		t   *Tensor
	}
	var order []*stored
	byID := map[string]*stored{}
	seen := map[string]bool{}
	refs := make([]*stored, len(keys))
	for i, k := range keys {
		if seen[k] {
			return nil, fmt.Errorf("key %q given twice", k)
		}
		seen[k] = true
		t := tensors[k]
		if t == nil {
			return nil, fmt.Errorf("key %q: no tensor", k)
		}
		n := int64(1)
		for _, d := range t.Shape {
			if d < 0 {
				return nil, fmt.Errorf("key %q: negative size in shape %v", k, t.Shape)
			}
			n *= int64(d)
		}
		if n != int64(len(t.Data)) {
			return nil, fmt.Errorf("key %q: shape %v needs %d elements, Data has %d", k, t.Shape, n, len(t.Data))
		}
		if s := byID[t.Storage]; t.Storage != "" && s != nil && sameTensor(s.t, t) {
			refs[i] = s
			continue
		}
		s := &stored{key: strconv.Itoa(len(order)), t: t}
		order = append(order, s)
		if _, ok := byID[t.Storage]; t.Storage != "" && !ok {
			byID[t.Storage] = s
		}
		refs[i] = s
	}

	var p pickler
	p.proto(2)
	p.global("collections", "OrderedDict")
	p.op(opEmptyTuple, opReduce, opMark)
	for i, k := range keys {
		s := refs[i]
		p.unicode(k)
		p.global("torch._utils", "_rebuild_tensor_v2")
		p.op(opMark, opMark)
		p.unicode("storage")
		p.global("torch", "FloatStorage")
		p.unicode(s.key)
		p.unicode("cpu")
		p.int(int64(len(s.t.Data)))
		p.op(opTuple, opBinPersID)
		p.int(0) // storage offset
		p.op(opMark)
		for _, d := range s.t.Shape {
			p.int(int64(d))
		}
		p.op(opTuple, opMark)
		stride := int64(1)
		strides := make([]int64, len(s.t.Shape))
		for k := len(s.t.Shape) - 1; k >= 0; k-- {
			strides[k] = stride
			stride *= int64(max(s.t.Shape[k], 1))
		}
		for _, st := range strides {
			p.int(st)
		}
		p.op(opTuple, opNewFalse)
		p.global("collections", "OrderedDict")
		p.op(opEmptyTuple, opReduce, opTuple, opReduce)
	}
	p.op(opSetItems, opStop)

	var z zipBuilder
	z.w = zip.NewWriter(&z.buf)
	if err := z.add("archive/data.pkl", p.b); err != nil {
		return nil, err
	}
	if err := z.add("archive/byteorder", []byte("little")); err != nil {
		return nil, err
	}
	for _, s := range order {
		b := make([]byte, 4*len(s.t.Data))
		for i, x := range s.t.Data {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		if err := z.add("archive/data/"+s.key, b); err != nil {
			return nil, err
		}
	}
	if err := z.add("archive/version", []byte("3\n")); err != nil {
		return nil, err
	}
	if err := z.w.Close(); err != nil {
		return nil, err
	}
	return z.buf.Bytes(), nil
}

// sameTensor reports whether a and b have equal shapes and bitwise equal data.
func sameTensor(a, b *Tensor) bool {
	if len(a.Shape) != len(b.Shape) || len(a.Data) != len(b.Data) {
		return false
	}
	for i := range a.Shape {
		if a.Shape[i] != b.Shape[i] {
			return false
		}
	}
	for i := range a.Data {
		if math.Float32bits(a.Data[i]) != math.Float32bits(b.Data[i]) {
			return false
		}
	}
	return true
}

// zipBuilder writes stored entries whose data start at multiples of
// alignment, padding the local header's extra field as PyTorch does (an
// extra field with id "FB").
type zipBuilder struct {
	buf    bytes.Buffer
	w      *zip.Writer
	offset int64 // bytes written so far; entries have no data descriptors
}

func (z *zipBuilder) add(name string, data []byte) error {
	const localHeader = 30
	start := z.offset + localHeader + int64(len(name)) + 4
	pad := (alignment - start%alignment) % alignment
	extra := make([]byte, 4+pad)
	copy(extra, "FB")
	binary.LittleEndian.PutUint16(extra[2:], uint16(pad))
	for i := 4; i < len(extra); i++ {
		extra[i] = 'Z'
	}
	fh := &zip.FileHeader{
		Name:               name,
		Method:             zip.Store,
		CRC32:              crc32.ChecksumIEEE(data),
		CompressedSize64:   uint64(len(data)),
		UncompressedSize64: uint64(len(data)),
		Extra:              extra,
	}
	w, err := z.w.CreateRaw(fh)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	z.offset += localHeader + int64(len(name)) + int64(len(extra)) + int64(len(data))
	return nil
}

// writeAtomic writes b to a temporary file beside path, syncs it and
// renames it to path.
func writeAtomic(path string, b []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	// CreateTemp makes the file private; a checkpoint is not.
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if _, err = w.Write(b); err != nil {
		return err
	}
	if err = w.Flush(); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	// Make the rename durable; not every filesystem supports syncing a
	// folder, and the data itself is already safe.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Pickle opcodes used by the writer.
const (
	opMark       = '('
	opStop       = '.'
	opReduce     = 'R'
	opTuple      = 't'
	opEmptyTuple = ')'
	opSetItems   = 'u'
	opBinPersID  = 'Q'
	opNewFalse   = 0x89
)

// pickler emits protocol-2 pickle opcodes.
type pickler struct{ b []byte }

func (p *pickler) op(ops ...byte) { p.b = append(p.b, ops...) }

func (p *pickler) proto(v byte) { p.b = append(p.b, 0x80, v) }

func (p *pickler) global(module, name string) {
	p.b = append(p.b, 'c')
	p.b = append(p.b, module...)
	p.b = append(p.b, '\n')
	p.b = append(p.b, name...)
	p.b = append(p.b, '\n')
}

// unicode emits BINUNICODE.
func (p *pickler) unicode(s string) {
	p.b = append(p.b, 'X')
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(len(s)))
	p.b = append(p.b, s...)
}

// int emits the shortest of BININT1, BININT2, BININT and LONG1.
func (p *pickler) int(v int64) {
	switch {
	case v >= 0 && v < 1<<8:
		p.b = append(p.b, 'K', byte(v))
	case v >= 0 && v < 1<<16:
		p.b = append(p.b, 'M')
		p.b = binary.LittleEndian.AppendUint16(p.b, uint16(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		p.b = append(p.b, 'J')
		p.b = binary.LittleEndian.AppendUint32(p.b, uint32(v))
	default:
		p.b = append(p.b, 0x8a, 8)
		p.b = binary.LittleEndian.AppendUint64(p.b, uint64(v))
	}
}
