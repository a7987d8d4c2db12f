package pth

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/lstmq/lstmq/internal/errkind"
)

// Tensor is one entry of a state dict.
type Tensor struct {
	Shape []int
	// Data holds the elements of a floating point tensor contiguous and
	// row-major: Data[Σ_k i_k·Π_{j>k} Shape[j]] = t[i_0, …, i_{d-1}].
	Data []float32
	// DType is the dtype of the storage in the file: "float32", "float16",
	// "bfloat16" or "float64" (read into Data), "int64" (Int64) or
	// "qint8" (Int8 and the quantizer fields).
	DType string
	// Storage identifies the storage the tensor views in the file. Two keys
	// with the same Storage shared memory in PyTorch (tied weights).
	Storage string

	// Int64 holds an int64 tensor's elements, laid out as Data.
	Int64 []int64

	// Int8 holds a quantized (qint8) tensor's integer values, int_repr(),
	// laid out as Data. The tensor stands for
	//
	//	t[i] = Scales[c]·(Int8[i] − ZeroPoints[c])
	//
	// with c = 0 for QScheme "per_tensor_affine" (q_scale(),
	// q_zero_point()) and c = i_Axis, the index along dimension Axis, for
	// "per_channel_affine" (q_per_channel_scales(), …_zero_points(),
	// …_axis()).
	Int8       []int8
	QScheme    string
	Scales     []float64
	ZeroPoints []int64
	Axis       int
}

// NumElements returns Π Shape[k] (1 for a scalar).
func (t *Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// StateDict is a loaded state_dict.
type StateDict struct {
	Keys    []string // in file order, of Tensors and Values
	Tensors map[string]*Tensor
	// Values holds the entries that are not tensors, which only the state
	// dicts of quantized modules have (see Value); nil if there are none.
	Values map[string]*Value
	// Metadata is the state dict's _metadata attribute (set by
	// module.state_dict()), in file order; nil if the file has none or
	// it is not made of {'version': int} entries. SaveWith writes it back.
	// For a whole-module checkpoint it is what module.state_dict() would
	// set: version 1 for the model and each of its submodules.
	Metadata []ModuleVersion
	// Module describes the model of a whole-module checkpoint
	// (torch.save(model)), whose state_dict() Keys and Tensors then are;
	// nil for a state dict.
	Module *Module
	// Legacy is true for a file in the format torch.save writes with
	// _use_new_zipfile_serialization=False, false for a zip archive.
	// SaveOptions.Legacy writes it.
	Legacy bool
}

// Quantized reports whether the state dict holds quantized tensors or
// packed params: whether it is the state dict of a quantized model.
func (sd *StateDict) Quantized() bool {
	if len(sd.Values) > 0 {
		return true
	}
	for _, t := range sd.Tensors {
		if t.DType == "qint8" {
			return true
		}
	}
	return false
}

// Load reads the checkpoint at path. Errors name path as given and say
// where in the file the problem is and what was expected, on one line:
// "testdata/torch/truncated.pth: key \"rnn.weight_ih_l0\": storage \"1\": …".
func Load(path string) (*StateDict, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // "open <path>: …"
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", show(path))
	}
	return Read(f, fi.Size(), path)
}

// Read reads a checkpoint of size bytes from r. Errors start with name
// (a path, say). Any malformed input yields an error naming the file; a
// panic would be a bug in this package, and is not recovered (the tests
// and fuzzers see it; the lstmq command reports it as an internal error).
// Only gopickle's own panics on malformed pickles become errors (unpickle).
func Read(r io.ReaderAt, size int64, name string) (sd *StateDict, err error) {
	name = show(name)
	if size < 0 {
		return nil, fmt.Errorf("%s: negative size %d", name, size)
	}
	var head [4]byte
	n, err := r.ReadAt(head[:], 0)
	if n < len(head) {
		if err == nil || err == io.EOF {
			return nil, errkind.Errorf(ErrTruncated, "%s: truncated file (%d bytes)", name, size)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	l := &loader{name: name, size: size, storages: map[string]*storage{}}
	// Output budget: the tensors returned may hold at most this many
	// bytes. Real checkpoints need at most 2× (float16 → float32) times the
	// number of keys tied to one storage; views repeated without end could
	// otherwise turn a small file into an unbounded allocation.
	l.budget = 16*min(size, 1<<58) + 1<<20
	switch {
	case bytes.Equal(head[:], []byte("PK\x03\x04")):
		err = l.readZip(r)
	case head[0] == 0x80, head[0] == 'L': // a pickle (protocol ≥ 2, or 1): the legacy format's magic number
		err = l.readLegacy(r)
	case bytes.HasPrefix(head[:], []byte("PK")):
		err = errkind.Errorf(ErrFormat, "not a PyTorch zip checkpoint")
	default:
		err = errkind.Errorf(ErrFormat, "not a PyTorch checkpoint (starts with % x)", head)
	}
	if err != nil {
		return nil, l.wrap(err)
	}
	if sd, err = l.stateDict(); err != nil {
		return nil, err
	}
	sd.Legacy = head[0] != 'P'
	if err := l.verifyAll(); err != nil {
		return nil, l.wrap(err)
	}
	return sd, nil
}

// loader holds the state of one Read.
type loader struct {
	name     string
	size     int64
	budget   int64
	root     any                 // what the state dict pickle returned
	keys     []any               // the state dict's keys and values: the root's items,
	values   []any               // or those a whole-module root's tree holds
	tree     *moduleTree         // the tree of a whole-module checkpoint, or nil
	storages map[string]*storage // by key
	order    []*storage          // in the order the pickle names them
	zipRead  int64               // compressed bytes of the zip entries read so far
	owner    map[*storage]string // first state dict key using each storage
}

// entries finds the state dict entries in the unpickled root: an
// OrderedDict's items, or the parameters of a whole-module checkpoint's
// modules (readModule). Other roots have none; stateDict refuses them.
func (l *loader) entries() error {
	if o, ok := l.root.(*moduleObject); ok {
		tree, err := readModule(o)
		if err != nil {
			return err
		}
		l.tree = tree
		l.keys = make([]any, len(tree.keys))
		for i, k := range tree.keys {
			l.keys[i] = k
		}
		l.values = tree.values
		return nil
	}
	l.keys, l.values, _ = orderedItems(l.root)
	return nil
}

// wrap prefixes err with the file name.
func (l *loader) wrap(err error) error {
	return fmt.Errorf("%s: %w", l.name, err)
}

// show returns s as it is if it is printable, quoted if not, so that an
// error naming it stays on one line and unambiguous.
func show(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) || r == utf8.RuneError {
			return strconv.Quote(s)
		}
	}
	return s
}
