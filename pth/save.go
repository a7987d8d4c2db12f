package pth

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/lstmq/lstmq/internal/atomicfile"
)

// ModuleVersion is one entry of a state dict's _metadata: the dotted name
// of a module ("" for the root) and its _version.
type ModuleVersion struct {
	Name    string
	Version int
}

// LSTMModelMetadata returns the _metadata of the state dict of the
// tutorial's LSTMModel (PyTorch's word_language_model with an LSTM):
// modules "", "drop" (Dropout), "encoder" (Embedding), "rnn" (LSTM) and
// "decoder" (Linear), in the order they are registered, each of version 1.
func LSTMModelMetadata() []ModuleVersion {
	return []ModuleVersion{{"", 1}, {"drop", 1}, {"encoder", 1}, {"rnn", 1}, {"decoder", 1}}
}

// SaveOptions are the options of SaveWith.
type SaveOptions struct {
	// Metadata, if not nil, is written as the state dict's _metadata
	// attribute, as module.state_dict() sets it: an OrderedDict from
	// module name to {'version': v}. torch.save(model.state_dict(), path)
	// writes it; with nil, the state dict is a plain OrderedDict. Use
	// LSTMModelMetadata() for the tutorial's model, StateDict.Metadata to
	// write back what a file held.
	Metadata []ModuleVersion
	// Legacy selects the format torch.save(sd, path,
	// _use_new_zipfile_serialization=False) writes (see SaveWith) instead
	// of the zip archive. StateDict.Legacy tells which a file is.
	Legacy bool
}

// Save writes tensors as a plain OrderedDict state dict: SaveWith with no
// options.
func Save(path string, keys []string, tensors map[string]*Tensor) error {
	return SaveWith(path, keys, tensors, SaveOptions{})
}

// SaveWith writes tensors byte for byte as PyTorch 1.13's torch.save(sd,
// path) writes a state dict sd of contiguous float32 tensors: a zip
// archive (see zipWriter) whose folder is named after the file — path's
// base name up to its last dot, "archive" if that is empty — holding
//
//	<folder>/data.pkl   the state dict, pickled by CPython at protocol 2
//	<folder>/data/<N>   storage N's raw little-endian float32s, for N in
//	                    string order ("0", "1", "10", "11", …, "2", …)
//	<folder>/version    "3\n"
//
// The pickle is an OrderedDict whose values are
// torch._utils._rebuild_tensor_v2(storage, 0, shape, row-major stride,
// False, OrderedDict()), each storage named by a persistent id
// ('storage', torch.FloatStorage, "N", "cpu", numel), with CPython's memo
// (BINPUT/BINGET) and batching (SETITEMS of at most 1000 items), and the
// _metadata attribute of opts, if any (BUILD). Storages are numbered in
// the order keys first use them. torch.load(path, weights_only=True) and
// load_state_dict read the file.
//
// With opts.Legacy, the file is what PyTorch 1.13 writes with
// _use_new_zipfile_serialization=False instead, byte for byte: five
// pickles at protocol 2 one after the other — the magic number, the
// protocol version 1001, the system info {'protocol_version': 1001,
// 'little_endian': True, 'type_sizes': {'short': 2, 'int': 4, 'long': 4}},
// the state dict as above but for the persistent ids, ('storage',
// torch.FloatStorage, key, "cpu", numel, None) with the key a new string
// each time, and the list of the storage keys in string order — then, for
// each key in that order, the storage's element count as a little-endian
// int64 and its raw float32s. PyTorch names a legacy storage by its address
// in memory (str(storage._cdata)); SaveWith names it by the Storage of the
// first tensor using it, which for a legacy file Load read is the key the
// file gave it (so writing back what Load read gives the same bytes), or by
// its number ("0", "1", …) when that is empty or taken by another storage.
//
// All storages are float32, whatever Tensor.DType says. Keys whose tensors
// have the same non-empty Storage and equal shapes and data are written as
// one storage referenced by each of them (tied weights), as PyTorch does;
// different views of one storage (say two halves) are written separately.
//
// The file is written atomically: to a temporary file in the same folder,
// synced, then renamed over path.
func SaveWith(path string, keys []string, tensors map[string]*Tensor, opts SaveOptions) error {
	enc, err := newEncoder(keys, tensors, opts)
	if err != nil {
		return fmt.Errorf("save %s: %w", show(path), err)
	}
	if err := atomicfile.WriteFile(path, 0o644, func(w io.Writer) error { return enc.write(w, archiveName(path)) }); err != nil {
		return fmt.Errorf("save %s: %w", show(path), err)
	}
	return nil
}

// SizeWith returns the number of bytes SaveWith(path, …) would write,
// without writing anything: the file is encoded into a byte counter.
func SizeWith(path string, keys []string, tensors map[string]*Tensor, opts SaveOptions) (int64, error) {
	enc, err := newEncoder(keys, tensors, opts)
	if err != nil {
		return 0, fmt.Errorf("size %s: %w", show(path), err)
	}
	var n countingWriter
	if err := enc.write(&n, archiveName(path)); err != nil {
		return 0, fmt.Errorf("size %s: %w", show(path), err)
	}
	return int64(n), nil
}

// countingWriter counts the bytes written to it.
type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}

// archiveName is the folder PyTorch names the archive after (basename in
// caffe2/serialize/inline_container.cc): the part of path after its last
// '/' or '\', up to its last '.'. PyTorch refuses to save to a path for
// which that is empty (".pth", "dir/"); Save names the folder "archive",
// as PyTorch does when saving to a file object.
func archiveName(path string) string {
	start := 0
	for i := 0; i < len(path); i++ {
		if path[i] == '/' || path[i] == '\\' {
			start = i + 1
		}
	}
	end := len(path)
	for i := end; i > start; i-- {
		if path[i-1] == '.' {
			end = i - 1
			break
		}
	}
	if end <= start {
		return "archive"
	}
	return path[start:end]
}

// encoder holds a checked state dict ready to be written.
type encoder struct {
	legacy   bool
	pickle   []byte
	storages []*stored // by storage number
}

// stored is one storage to write: the data of the first tensor using it.
type stored struct {
	key string // "N"
	t   *Tensor
}

// newEncoder checks the tensors, assigns storages and pickles the state dict.
func newEncoder(keys []string, tensors map[string]*Tensor, opts SaveOptions) (*encoder, error) {
	var order []*stored
	byID := map[string]*stored{}
	names := map[string]bool{"": true} // legacy storage keys taken
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
		if t.Int8 != nil || t.Int64 != nil || t.DType == "int64" || t.DType == "qint8" {
			return nil, fmt.Errorf("key %q: %s tensors cannot be saved; Save writes float32 tensors", k, t.DType)
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
		if opts.Legacy {
			s.key = ""
			if !names[t.Storage] {
				s.key = t.Storage
			}
			names[s.key] = true
		}
		order = append(order, s)
		if _, ok := byID[t.Storage]; t.Storage != "" && !ok {
			byID[t.Storage] = s
		}
		refs[i] = s
	}
	// Storages whose tensors name none (or a taken one) are numbered, past
	// the names taken.
	for i, s := range order {
		for n := i; s.key == ""; n++ {
			if k := strconv.Itoa(n); !names[k] {
				s.key = k
				names[k] = true
			}
		}
	}
	modules := map[string]bool{}
	for _, m := range opts.Metadata {
		if modules[m.Name] {
			return nil, fmt.Errorf("metadata: module %q given twice", m.Name)
		}
		modules[m.Name] = true
	}

	var p pickler
	p.proto(2)
	p.memoGlobal("collections", "OrderedDict")
	p.op(opEmptyTuple, opReduce)
	p.put()
	storageSlot := map[*stored]int{}
	p.items(len(keys), func(i int) {
		s := refs[i]
		p.freshString(keys[i])
		p.memoGlobal("torch._utils", "_rebuild_tensor_v2")
		p.op(opMark)
		// The persistent id, a new tuple each time.
		p.op(opMark)
		p.memoString("storage")
		p.memoGlobal("torch", "FloatStorage")
		if slot, ok := storageSlot[s]; ok && !opts.Legacy {
			p.get(slot) // torch hands out one key string per storage
		} else {
			p.unicode(s.key) // a legacy key is str(storage._cdata): new each time
			storageSlot[s] = p.put()
		}
		p.memoString("cpu")
		p.int(int64(len(s.t.Data)))
		if opts.Legacy {
			p.op(opNone) // view_metadata
		}
		p.op(opTuple)
		p.put()
		p.op(opBinPersID)
		p.int(0) // storage offset
		shape := make([]int64, len(s.t.Shape))
		strides := make([]int64, len(s.t.Shape))
		stride := int64(1)
		for k := len(s.t.Shape) - 1; k >= 0; k-- {
			shape[k] = int64(s.t.Shape[k])
			strides[k] = stride
			stride *= int64(max(s.t.Shape[k], 1))
		}
		p.intTuple(shape)
		p.intTuple(strides)
		p.op(opNewFalse) // requires_grad
		// backward_hooks: an empty OrderedDict.
		p.memoGlobal("collections", "OrderedDict")
		p.op(opEmptyTuple, opReduce)
		p.put()
		p.op(opTuple) // the 6 arguments
		p.put()
		p.op(opReduce)
		p.put()
	})
	if opts.Metadata != nil {
		// BUILD with the state {'_metadata': OrderedDict(name: {'version': v})}.
		p.op(opEmptyDict)
		p.put()
		p.freshString("_metadata")
		p.memoGlobal("collections", "OrderedDict")
		p.op(opEmptyTuple, opReduce)
		p.put()
		p.items(len(opts.Metadata), func(i int) {
			m := opts.Metadata[i]
			p.freshString(m.Name)
			p.op(opEmptyDict)
			p.put()
			p.memoString("version")
			p.int(int64(m.Version))
			p.op(opSetItem)
		})
		p.op(opSetItem, opBuild)
	}
	p.op(opStop)
	return &encoder{legacy: opts.Legacy, pickle: p.b, storages: order}, nil
}

// write writes the file: the archive, its folder named name, or the
// legacy format.
func (e *encoder) write(w io.Writer, name string) error {
	if e.legacy {
		return e.writeLegacy(w)
	}
	z := newZipWriter(w)
	prefix := name + "/"
	if err := z.entry(prefix+"data.pkl", int64(len(e.pickle)), func(w io.Writer) error {
		_, err := w.Write(e.pickle)
		return err
	}); err != nil {
		return err
	}
	sorted := slices.Clone(e.storages)
	slices.SortFunc(sorted, func(a, b *stored) int { return strings.Compare(a.key, b.key) })
	buf := make([]byte, 0, 64<<10)
	for _, s := range sorted {
		err := z.entry(prefix+"data/"+s.key, 4*int64(len(s.t.Data)), func(w io.Writer) error {
			return writeFloats(w, s.t.Data, buf)
		})
		if err != nil {
			return err
		}
	}
	if err := z.entry(prefix+"version", 2, func(w io.Writer) error {
		_, err := io.WriteString(w, "3\n")
		return err
	}); err != nil {
		return err
	}
	return z.close()
}

// legacyHeader is the start of every legacy file PyTorch 1.13 writes on a
// little-endian machine: the magic number 0x1950a86a20f9469cfc6c, the
// protocol version 1001 and the system info, each a pickle at protocol 2.
var legacyHeader = func() []byte {
	var p pickler
	p.proto(2)
	p.op(0x8a, 10) // LONG1, 10 bytes
	p.b = append(p.b, legacyMagic.FillBytes(make([]byte, 10))...)
	slices.Reverse(p.b[len(p.b)-10:]) // little-endian
	p.op(opStop)
	p.proto(2)
	p.int(legacyProtocol)
	p.op(opStop)
	// {'protocol_version': 1001, 'little_endian': True,
	//  'type_sizes': {'short': 2, 'int': 4, 'long': 4}}, a new pickler.
	p.memoLen = 0
	p.proto(2)
	p.op(opEmptyDict)
	p.put()
	p.op(opMark)
	p.freshString("protocol_version")
	p.int(legacyProtocol)
	p.freshString("little_endian")
	p.op(opNewTrue)
	p.freshString("type_sizes")
	p.op(opEmptyDict)
	p.put()
	p.op(opMark)
	for _, ts := range []struct {
		name string
		size int64
	}{{"short", 2}, {"int", 4}, {"long", 4}} {
		p.freshString(ts.name)
		p.int(ts.size)
	}
	p.op(opSetItems, opSetItems, opStop)
	return p.b
}()

// writeLegacy writes the legacy format (see SaveWith).
func (e *encoder) writeLegacy(w io.Writer) error {
	sorted := slices.Clone(e.storages)
	slices.SortFunc(sorted, func(a, b *stored) int { return strings.Compare(a.key, b.key) })
	// The storage keys: a list, pickled as CPython does an exact list.
	var p pickler
	p.proto(2)
	p.op(opEmptyList)
	p.put()
	if len(sorted) == 1 {
		p.freshString(sorted[0].key)
		p.op(opAppend)
	}
	for start := 0; len(sorted) > 1 && start < len(sorted); start += batchSize {
		p.op(opMark)
		for _, s := range sorted[start:min(start+batchSize, len(sorted))] {
			p.freshString(s.key)
		}
		p.op(opAppends)
	}
	p.op(opStop)
	for _, b := range [][]byte{legacyHeader, e.pickle, p.b} {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	buf := make([]byte, 0, 64<<10)
	for _, s := range sorted {
		if _, err := w.Write(binary.LittleEndian.AppendUint64(buf[:0], uint64(len(s.t.Data)))); err != nil {
			return err
		}
		if err := writeFloats(w, s.t.Data, buf); err != nil {
			return err
		}
	}
	return nil
}

// writeFloats writes d as little-endian float32s through buf.
func writeFloats(w io.Writer, d []float32, buf []byte) error {
	for len(d) > 0 {
		n := min(len(d), cap(buf)/4)
		b := buf[:0]
		for _, x := range d[:n] {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		d = d[n:]
	}
	return nil
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
	if len(a.Data) > 0 && &a.Data[0] == &b.Data[0] {
		return true // the same memory
	}
	for i := range a.Data {
		if math.Float32bits(a.Data[i]) != math.Float32bits(b.Data[i]) {
			return false
		}
	}
	return true
}
