package pth

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/lstmq/lstmq/internal/errkind"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// maxPickle bounds the size of one pickle (data.pkl or the legacy state
// dict pickle). A state dict's pickle costs ~150 bytes per tensor, so this
// allows ~50k tensors, while bounding what gopickle can be made to allocate
// (a few hundred bytes per opcode at worst).
const maxPickle = 8 << 20

// maxMarks bounds the nesting of MARKs (a state dict nests 3 deep); gopickle
// allocates a new stack for each.
const maxMarks = 256

// maxStack bounds the items on the pickle's stack: pickle pushes a dict's
// items in SETITEMS batches of 1000 (2000 items) and a list's in APPENDS
// batches of 1000, so a state dict of any size stays far below it
// (testdata/torch/save_ref/many.pth, 1000+ keys, peaks at 2008), while
// gopickle spends a few hundred bytes per item.
const maxStack = 1 << 14

// maxDepth bounds how deep the containers a pickle builds nest (tuples,
// lists, dicts, sets, objects' arguments and state), as stackSim counts
// it: a float32 state dict nests 4 deep, a quantized LSTM's packed params
// 12 (testdata/torch/qckpt); gopickle's values and our walk over them cost
// memory and time per level.
const maxDepth = 64

// maxLong bounds LONG1/LONG4 arguments (bytes): the magic number takes 10;
// gopickle decodes longer ones in quadratic time.
const maxLong = 16

// maxNesting bounds how deep values are looked into: a quantized LSTM's
// packed params nest tensors 9 deep (object, state, list, object, state,
// quantized tensor, qparams, tensor, storage).
const maxNesting = 16

// maxDims bounds the rank of a tensor.
const maxDims = 64

// storageClass is a torch.*Storage class named by a pickle global.
type storageClass struct {
	name  string // torch name, e.g. "FloatStorage"
	dtype string // "float32", …; "" for storages we recognise but cannot read
	size  int64  // bytes per element
}

var storageClasses = map[string]*storageClass{
	"FloatStorage":    {"FloatStorage", "float32", 4},
	"HalfStorage":     {"HalfStorage", "float16", 2},
	"BFloat16Storage": {"BFloat16Storage", "bfloat16", 2},
	"DoubleStorage":   {"DoubleStorage", "float64", 8},
	"LongStorage":     {"LongStorage", "int64", 8},
	// The int8 values of quantized tensors (torch.qint8), read only
	// through _rebuild_qtensor.
	"QInt8Storage": {"QInt8Storage", "qint8", 1},
	// Recognised so that their tensors get a clear "unsupported dtype"
	// error; their sizes are still checked like any other.
	"IntStorage":           {"IntStorage", "", 4},
	"ShortStorage":         {"ShortStorage", "", 2},
	"CharStorage":          {"CharStorage", "", 1},
	"ByteStorage":          {"ByteStorage", "", 1},
	"BoolStorage":          {"BoolStorage", "", 1},
	"ComplexFloatStorage":  {"ComplexFloatStorage", "", 8},
	"ComplexDoubleStorage": {"ComplexDoubleStorage", "", 16},
	"UntypedStorage":       {"UntypedStorage", "", 1},
}

// quantizedGlobals are the globals through which the quantized state
// dicts this package does not read show themselves: other quantized dtypes
// and schemes than quantize_dynamic's qint8 ones (its float16 ones,
// quantize_dynamic(dtype=torch.float16), are read).
var quantizedGlobals = map[string]bool{
	"torch.quint8":                           true,
	"torch.qint32":                           true,
	"torch.quint4x2":                         true,
	"torch.quint2x4":                         true,
	"torch.per_channel_affine_float_qparams": true,
	"torch.per_tensor_symmetric":             true,
	"torch.per_channel_symmetric":            true,
	"torch.QUInt8Storage":                    true,
	"torch.QInt32Storage":                    true,
	"torch.QUInt4x2Storage":                  true,
	"torch.QUInt2x4Storage":                  true,
}

// errQuantized is returned for quantized checkpoints of a kind Load does
// not read.
var errQuantized = errors.New("quantized checkpoints are not supported beyond quantize_dynamic's qint8 weights")

// checkGlobal reports whether module.name may be loaded.
func checkGlobal(module, name string) error {
	full := module + "." + name
	if quantizedGlobals[full] {
		return fmt.Errorf("%w (found global %s)", errQuantized, show(full))
	}
	switch full {
	case "collections.OrderedDict",
		"torch._utils._rebuild_tensor_v2",
		"torch._utils._rebuild_parameter",
		"torch._utils._rebuild_parameter_with_state",
		// quantize_dynamic's state dicts (see quantized.go)
		"torch._utils._rebuild_qtensor",
		"torch.ScriptObject",
		"torch.qint8",
		"torch.float16", // quantize_dynamic(dtype=torch.float16)
		"torch.per_tensor_affine",
		"torch.per_channel_affine":
		return nil
	}
	if module == "torch" && storageClasses[name] != nil {
		return nil
	}
	// Whole-module checkpoints (module.go).
	if moduleKind(module, name) != "" || moduleOnlyGlobals[full] {
		return nil
	}
	return errkind.Errorf(ErrUnsafePickle, "refusing to load global %s", show(full))
}

// findClass is the unpickler's allow-list.
func findClass(module, name string) (any, error) {
	if err := checkGlobal(module, name); err != nil {
		return nil, err
	}
	switch module + "." + name {
	case "collections.OrderedDict":
		return &types.OrderedDictClass{}, nil
	case "torch._utils._rebuild_tensor_v2":
		return rebuildTensorV2{}, nil
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		return rebuildParameter{}, nil
	case "torch._utils._rebuild_qtensor":
		return rebuildQTensor{}, nil
	case "torch.ScriptObject":
		return scriptObjectClass{}, nil
	case "torch.qint8":
		return dtypeValue("qint8"), nil
	case "torch.float16":
		return dtypeValue("float16"), nil
	case "torch.per_tensor_affine", "torch.per_channel_affine":
		return qscheme(name), nil
	case "__builtin__.set", "builtins.set":
		return setClass{}, nil
	case "copy_reg._reconstructor", "__builtin__.object":
		// gopickle resolves these itself, to inert types; never reached.
		return nil, fmt.Errorf("unexpected lookup of %s", module+"."+name)
	}
	if kind := moduleKind(module, name); kind != "" {
		return &moduleClass{name: module + "." + name, kind: kind}, nil
	}
	return storageClasses[name], nil
}

// scanPickle reads one pickle from r, of which at most limit bytes remain,
// and returns its bytes up to and including STOP. It walks the opcodes
// without building anything: every argument length is checked against
// limit before it is read, and globals are checked against the
// allow-list. What it accepts is safe to hand to gopickle.
func scanPickle(r *bufio.Reader, limit int64) ([]byte, error) {
	capped := limit > maxPickle
	if capped {
		limit = maxPickle
	}
	stackGlobal := -1 // offset of the first STACK_GLOBAL
	marks := 0
	var st stackSim
	var pkl []byte
	read := func(n int64) ([]byte, error) {
		if capped && n > limit-int64(len(pkl)) {
			return nil, fmt.Errorf("pickle: longer than the limit of %d bytes", maxPickle)
		}
		if n < 0 || n > limit-int64(len(pkl)) {
			return nil, errkind.Errorf(ErrTruncated, "pickle: truncated (argument of %d bytes at offset %d, %d bytes left)",
				n, len(pkl), limit-int64(len(pkl)))
		}
		start := len(pkl)
		pkl = slices.Grow(pkl, int(n))[:start+int(n)]
		if _, err := io.ReadFull(r, pkl[start:]); err != nil {
			return nil, truncated(err)
		}
		return pkl[start:], nil
	}
	line := func() (string, error) {
		var s []byte
		for {
			b, err := read(1)
			if err != nil {
				return "", err
			}
			if b[0] == '\n' {
				return string(s), nil
			}
			if len(s) >= 1024 {
				return "", fmt.Errorf("pickle: line argument longer than 1024 bytes at offset %d", len(pkl))
			}
			s = append(s, b[0])
		}
	}
	// strArg reads a counted string argument with a length of n bytes
	// (little-endian) and returns it.
	strArg := func(n int64, signed bool) (string, error) {
		b, err := read(n)
		if err != nil {
			return "", err
		}
		var length int64
		switch n {
		case 1:
			length = int64(b[0])
		case 4:
			if signed {
				length = int64(int32(binary.LittleEndian.Uint32(b)))
			} else {
				length = int64(binary.LittleEndian.Uint32(b))
			}
		case 8:
			u := binary.LittleEndian.Uint64(b)
			if u > 1<<62 {
				return "", fmt.Errorf("pickle: absurd length %d at offset %d", u, len(pkl))
			}
			length = int64(u)
		}
		s, err := read(length)
		return string(s), err
	}
	strs := map[string]bool{}
	lastStr := "" // the string pushed last: in a state dict, the key being built
	// Module classes seen, and the first global only a whole-module
	// pickle may name (moduleOnlyGlobals), with its offset.
	sawModule := false
	moduleOnly, moduleOnlyAt := "", 0
	for {
		op, err := read(1)
		if err != nil {
			return nil, err
		}
		at := len(pkl) - 1
		var arg []byte // a memo index, for GET and PUT
		switch c := op[0]; c {
		case '.': // STOP
			if stackGlobal >= 0 && (strs["__builtin__"] || strs["copy_reg"]) {
				// gopickle resolves these two modules itself,
				// before asking findClass.
				return nil, fmt.Errorf("refusing pickle: STACK_GLOBAL (first at offset %d) with module __builtin__ or copy_reg", stackGlobal)
			}
			if moduleOnly != "" && !sawModule {
				return nil, errkind.Errorf(ErrUnsafePickle, "refusing to load global %s at offset %d (outside a whole-module checkpoint)",
					moduleOnly, moduleOnlyAt)
			}
			return pkl, nil
		case '(': // MARK
			if marks++; marks > maxMarks {
				return nil, fmt.Errorf("pickle: MARKs nested more than %d deep at offset %d", maxMarks, at)
			}
		case '1', 'd', 'e', 'l', 't', 'u', 0x90, 0x91: // pop to MARK
			marks--
		case '0', '2', 'N', 'R', 'a', 'b', '}', ']', 's', ')',
			'Q', 0x81, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8f, 0x92, 0x94:
			// no argument
		case 0x93: // STACK_GLOBAL: names come from the stack; findClass checks them
			if stackGlobal < 0 {
				stackGlobal = at
			}
		case 'K', 0x80: // BININT1, PROTO
			_, err = read(1)
		case 'h', 'q': // BINGET, BINPUT
			arg, err = read(1)
		case 'M': // BININT2
			_, err = read(2)
		case 'J': // BININT
			_, err = read(4)
		case 'j', 'r': // LONG_BINGET, LONG_BINPUT
			arg, err = read(4)
		case 'G': // BINFLOAT
			_, err = read(8)
		case 0x95: // FRAME: its content is opcodes, scanned as they come
			var b []byte
			if b, err = read(8); err == nil {
				if n := binary.LittleEndian.Uint64(b); n > uint64(limit-int64(len(pkl))) {
					err = errkind.Errorf(ErrTruncated, "pickle: truncated (frame of %d bytes at offset %d)", n, at)
				}
			}
		case 0x8a, 0x8b: // LONG1, LONG4
			n := int64(1)
			if c == 0x8b {
				n = 4
			}
			var b []byte
			if b, err = read(n); err == nil {
				var length int64
				if n == 1 {
					length = int64(b[0])
				} else {
					length = int64(int32(binary.LittleEndian.Uint32(b)))
				}
				if length < 1 || length > maxLong {
					err = fmt.Errorf("pickle: integer of %d bytes at offset %d", length, at)
				} else {
					_, err = read(length)
				}
			}
		case 'T': // BINSTRING
			_, err = strArg(4, true)
		case 'U', 'C', 0x8c: // SHORT_BINSTRING, SHORT_BINBYTES, SHORT_BINUNICODE
			var s string
			s, err = strArg(1, false)
			strs[s], lastStr = true, s
		case 'X', 'B': // BINUNICODE, BINBYTES
			var s string
			s, err = strArg(4, false)
			strs[s], lastStr = true, s
		case 0x8d, 0x8e, 0x96: // BINUNICODE8, BINBYTES8, BYTEARRAY8
			var s string
			s, err = strArg(8, false)
			strs[s], lastStr = true, s
		case 'S', 'V': // STRING, UNICODE: newline-terminated
			var s string
			s, err = line()
			strs[s], lastStr = true, s
		case 'F', 'I', 'L': // FLOAT, INT, LONG: newline-terminated
			_, err = line()
		case 'p', 'g': // PUT, GET: newline-terminated decimal index
			var s string
			if s, err = line(); err == nil {
				arg = []byte(s)
			}
		case 'c': // GLOBAL module\nname\n
			var module, name string
			if module, err = line(); err == nil {
				if name, err = line(); err == nil {
					if err = checkGlobal(module, name); err != nil {
						err = fmt.Errorf("%w at offset %d", err, at)
						if errors.Is(err, errQuantized) && lastStr != "" {
							err = fmt.Errorf("%w, after %q", err, lastStr)
						}
						if sawModule && errors.Is(err, ErrUnsafePickle) {
							err = fmt.Errorf("%w, after %q (a whole-module checkpoint may hold only the word_language_model example's RNNModel, "+
								"with an Embedding, an LSTM, GRU or RNN, a Linear and a Dropout)", err, lastStr)
						}
					} else if moduleKind(module, name) != "" {
						sawModule = true
					} else if full := module + "." + name; moduleOnlyGlobals[full] && moduleOnly == "" {
						moduleOnly, moduleOnlyAt = full, at
					}
				}
			}
		default:
			// EXT1/2/4, NEXT_BUFFER, READONLY_BUFFER, PERSID, INST, OBJ
			// and unknown opcodes: no state dict uses them.
			if at == 0 {
				return nil, fmt.Errorf("pickle: not a pickle (starts with % x)", pkl[:min(len(pkl), 4)])
			}
			if c == 'P' {
				return nil, fmt.Errorf("pickle: PERSID (a protocol 0 persistent id, which torch.load cannot read either) at offset %d", at)
			}
			return nil, fmt.Errorf("pickle: unsupported opcode 0x%02x at offset %d", c, at)
		}
		if err != nil {
			return nil, err
		}
		st.step(op[0], arg)
		if len(st.items) > maxStack {
			return nil, fmt.Errorf("pickle: more than %d items on the stack at offset %d", maxStack, at)
		}
		if st.deepest > maxDepth {
			return nil, fmt.Errorf("pickle: containers nested more than %d deep at offset %d", maxDepth, at)
		}
	}
}

// stackSim follows what a pickle's opcodes do to the unpickler's stack
// without building anything: for each item, how deep containers nest in
// it (0 for a scalar or string, 1 for an empty tuple, list, dict or set,
// 1 + the deepest element for one that holds elements; an object counts
// as its arguments and state), so that scanPickle can refuse a pickle that
// would make gopickle build a deep or wide structure. Malformed sequences
// (a pop from an empty stack, a pop to a missing MARK) are left to
// gopickle to report.
type stackSim struct {
	items   []int32 // nesting depth of each item on the stack
	marks   []int   // len(items) at each open MARK
	memo    map[uint64]int32
	deepest int32
}

func (s *stackSim) push(d int32) {
	s.items = append(s.items, d)
	s.deepest = max(s.deepest, d)
}

// pop removes the top n items (fewer if there are not as many) and returns
// the deepest of them.
func (s *stackSim) pop(n int) int32 {
	n = min(n, len(s.items))
	d := int32(0)
	for _, v := range s.items[len(s.items)-n:] {
		d = max(d, v)
	}
	s.items = s.items[:len(s.items)-n]
	return d
}

// popMark removes the items above the last MARK and the MARK, and returns
// the deepest of them.
func (s *stackSim) popMark() int32 {
	m := 0
	if k := len(s.marks); k > 0 {
		m, s.marks = s.marks[k-1], s.marks[:k-1]
	}
	return s.pop(len(s.items) - min(m, len(s.items)))
}

// fill makes the top item, a container or object, hold values up to d deep.
func (s *stackSim) fill(d int32) {
	if k := len(s.items); k > 0 {
		s.items[k-1] = max(s.items[k-1], d+1)
		s.deepest = max(s.deepest, s.items[k-1])
	}
}

func (s *stackSim) top() int32 {
	if k := len(s.items); k > 0 {
		return s.items[k-1]
	}
	return 0
}

// step applies opcode op, with arg its memo index for GET and PUT.
func (s *stackSim) step(op byte, arg []byte) {
	switch op {
	case '(': // MARK
		s.marks = append(s.marks, len(s.items))
	case '1': // POP_MARK
		s.popMark()
	case 'd', 'l', 't', 0x91: // DICT, LIST, TUPLE, FROZENSET
		s.push(s.popMark() + 1)
	case 'e', 'u', 0x90: // APPENDS, SETITEMS, ADDITEMS
		s.fill(s.popMark())
	case 'a': // APPEND
		s.fill(s.pop(1))
	case 's': // SETITEM
		s.fill(s.pop(2))
	case 'b': // BUILD
		s.fill(s.pop(1))
	case '}', ']', ')', 0x8f: // EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE, EMPTY_SET
		s.push(1)
	case 0x85, 0x86, 0x87: // TUPLE1, TUPLE2, TUPLE3
		s.push(s.pop(int(op-0x85)+1) + 1)
	case '0': // POP
		s.pop(1)
	case '2': // DUP
		s.push(s.top())
	case 'R', 0x81: // REDUCE, NEWOBJ: callable or class, arguments
		d := s.pop(1)
		s.pop(1)
		s.push(d)
	case 0x92: // NEWOBJ_EX: class, arguments, keyword arguments
		d := s.pop(2)
		s.pop(1)
		s.push(d)
	case 'Q': // BINPERSID
		s.push(s.pop(1))
	case 0x93: // STACK_GLOBAL
		s.pop(2)
		s.push(0)
	case 'h', 'j', 'g': // BINGET, LONG_BINGET, GET
		s.push(s.memo[memoIndex(op, arg)])
	case 'q', 'r', 'p': // BINPUT, LONG_BINPUT, PUT
		s.put(memoIndex(op, arg))
	case 0x94: // MEMOIZE
		s.put(uint64(len(s.memo)))
	case 0x80, 0x95: // PROTO, FRAME
	default: // everything else scanPickle accepts pushes one scalar, string or global
		s.push(0)
	}
}

func (s *stackSim) put(i uint64) {
	if s.memo == nil {
		s.memo = map[uint64]int32{}
	}
	s.memo[i] = s.top()
}

// memoIndex decodes the memo index argument of a GET or PUT opcode.
func memoIndex(op byte, arg []byte) uint64 {
	switch op {
	case 'h', 'q':
		return uint64(arg[0])
	case 'j', 'r':
		return uint64(binary.LittleEndian.Uint32(arg))
	}
	i, _ := strconv.ParseUint(string(arg), 10, 64)
	return i
}

// truncated turns a short read into a "truncated" error.
func truncated(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errkind.Errorf(ErrTruncated, "truncated file")
	}
	return err
}

// unpickle runs gopickle on a scanned pickle with our allow-list and
// persistent_load. gopickle indexes unchecked on some malformed pickles:
// its panics become errors. A panic in this module's code that gopickle
// calls (persistent_load, the allowed classes) is a bug, and goes on.
func unpickle(pkl []byte, persistentLoad func(any) (any, error)) (v any, err error) {
	r := bytes.NewReader(pkl)
	defer func() {
		if p := recover(); p != nil {
			if !gopicklePanicked() {
				// Still on the stack of the first panic, which the
				// traceback shows.
				panic(p)
			}
			v, err = nil, fmt.Errorf("pickle: malformed (%v)", p)
		}
		if err != nil {
			// The opcode that failed is the last byte read.
			err = fmt.Errorf("%w at offset %d", err, len(pkl)-r.Len()-1)
		}
	}()
	u := pickle.NewUnpickler(r)
	u.FindClass = findClass
	u.PersistentLoad = persistentLoad
	return u.Load()
}

// gopicklePanicked reports, called by a deferred function while a panic
// unwinds, whether the panicking code is gopickle's rather than this
// module's: of the frames below the panic (runtime and standard library
// frames skipped), whether the first of either module is gopickle's.
func gopicklePanicked() bool {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(1, pcs)])
	below := false // past runtime.gopanic
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			below = true
		case below && strings.HasPrefix(f.Function, "github.com/nlpodyssey/gopickle/"):
			return true
		case below && strings.HasPrefix(f.Function, "github.com/lstmq/lstmq/"):
			return false
		}
		if !more {
			return false
		}
	}
}

// tensorRecord is what _rebuild_tensor_v2 returns: its arguments, checked
// later, when the key of the tensor is known.
type tensorRecord struct {
	args []any
}

type rebuildTensorV2 struct{}

// Call is torch._utils._rebuild_tensor_v2(storage, storage_offset, size,
// stride, requires_grad, backward_hooks[, metadata]).
func (rebuildTensorV2) Call(args ...any) (any, error) {
	return &tensorRecord{args: args}, nil
}

type rebuildParameter struct{}

// Call is torch._utils._rebuild_parameter(data, requires_grad,
// backward_hooks[, state]): the parameter is its data.
func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, errors.New("_rebuild_parameter without arguments")
	}
	return args[0], nil
}

// persistentLoad returns the unpickler's persistent_load: storages, and
// in the legacy format (legacy set) the classes of a whole-module
// checkpoint.
func (l *loader) persistentLoad(legacy bool) func(any) (any, error) {
	return func(id any) (any, error) {
		if t, ok := id.(*types.Tuple); ok && legacy && t.Len() > 0 && t.Get(0) == "module" {
			return modulePersistentID(t)
		}
		class, key, numel, err := persistentID(id)
		if err != nil {
			return nil, err
		}
		return l.register(class, key, numel)
	}
}

// persistentID decodes ('storage', class, key, location, numel[, view]).
func persistentID(id any) (class *storageClass, key string, numel int64, err error) {
	t, ok := id.(*types.Tuple)
	if !ok || t.Len() < 5 || t.Len() > 6 {
		return nil, "", 0, fmt.Errorf("unexpected persistent id %s", pyType(id))
	}
	if s, _ := t.Get(0).(string); s != "storage" {
		return nil, "", 0, fmt.Errorf("unexpected persistent id of type %s", pyRepr(t.Get(0)))
	}
	class, ok = t.Get(1).(*storageClass)
	if !ok {
		return nil, "", 0, fmt.Errorf("persistent id: storage type is %s", pyType(t.Get(1)))
	}
	key, ok = t.Get(2).(string)
	if !ok {
		return nil, "", 0, fmt.Errorf("persistent id: storage key is %s", pyType(t.Get(2)))
	}
	if _, ok := t.Get(3).(string); !ok {
		return nil, "", 0, fmt.Errorf("storage %q: location is %s", key, pyType(t.Get(3)))
	}
	n, ok := t.Get(4).(int)
	if !ok || n < 0 {
		return nil, "", 0, fmt.Errorf("storage %q: bad element count %s", key, pyRepr(t.Get(4)))
	}
	if t.Len() == 6 && t.Get(5) != nil {
		return nil, "", 0, fmt.Errorf("storage %q: legacy storage views are not supported", key)
	}
	return class, key, int64(n), nil
}

// register records a storage named by a persistent id. Nothing is
// allocated for it until checkStorages has checked its size.
func (l *loader) register(class *storageClass, key string, numel int64) (*storage, error) {
	if s, ok := l.storages[key]; ok {
		if s.class != class || s.numel != numel {
			return nil, fmt.Errorf("storage %q: named as %s[%d] and as %s[%d]",
				key, s.class.name, s.numel, class.name, numel)
		}
		return s, nil
	}
	s := &storage{key: key, class: class, numel: numel}
	l.storages[key] = s
	l.order = append(l.order, s)
	return s, nil
}

// checkStorages checks every storage's size against the file size, then
// runs check on it, in the order of the state dict keys that use them; an
// error names the first key using the storage.
func (l *loader) checkStorages(check func(*storage) error) error {
	owner := map[*storage]string{}
	l.owner = owner
	visited := map[any]bool{}
	for i, v := range l.values {
		claimStorages(v, fmt.Sprint(l.keys[i]), owner, visited, 0)
	}
	for _, s := range l.order {
		err := error(nil)
		if s.numel > l.size/s.class.size {
			err = fmt.Errorf("storage %q: %d elements of %d bytes exceed the file size (%d bytes)",
				s.key, s.numel, s.class.size, l.size)
		} else if check != nil {
			err = check(s)
		}
		if err != nil {
			return l.keyError(s, err)
		}
	}
	return nil
}

// claimStorages records key as the owner of the storages that v uses (a
// tensor, or the quantized tensors and packed params that hold tensors),
// unless they have one. Containers are visited once: memoized pickles can
// share them and nest them in themselves. What lies deeper than a state
// dict nests (maxNesting) is not looked at.
func claimStorages(v any, key string, owner map[*storage]string, visited map[any]bool, depth int) {
	if depth > maxNesting {
		return
	}
	var args []any
	switch x := v.(type) {
	case *storage:
		if _, seen := owner[x]; !seen {
			owner[x] = key
		}
		return
	case *tensorRecord:
		args = x.args
	case *qtensorRecord:
		args = x.args
	case *scriptObject:
		if visited[x] {
			return
		}
		visited[x] = true
		claimStorages(x.state, key, owner, visited, depth+1)
		return
	case *types.Tuple, *types.List:
		if visited[x] {
			return
		}
		visited[x] = true
		args, _ = listItems(x)
	default:
		return
	}
	for _, a := range args {
		claimStorages(a, key, owner, visited, depth+1)
	}
}

// keyError prefixes err with the first key using storage s, if any.
func (l *loader) keyError(s *storage, err error) error {
	if k, ok := l.owner[s]; ok {
		return fmt.Errorf("key %q: %w", k, err)
	}
	return err
}

// pyType names the Python type of a value decoded by gopickle.
func pyType(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case *types.Tuple:
		return "tuple"
	case *types.List:
		return "list"
	case *types.Dict:
		return "dict"
	case *types.OrderedDict:
		return "OrderedDict"
	case *storage:
		return "storage"
	case *storageClass:
		return "storage class"
	case *tensorRecord:
		return "tensor"
	case *qtensorRecord:
		return "quantized tensor"
	case *scriptObject:
		return "torch.ScriptObject"
	case *moduleClass:
		return "class " + show(x.name)
	case *moduleObject:
		return show(x.class.name) + " object"
	case pySet:
		return "set"
	case *types.Set:
		return "set"
	case dtypeValue:
		return "dtype"
	case qscheme:
		return "qscheme"
	}
	return fmt.Sprintf("%T", v)
}

// pyRepr is a short description of a value for errors.
func pyRepr(v any) string {
	switch x := v.(type) {
	case int, bool, float64:
		return fmt.Sprintf("%s %v", pyType(v), x)
	case string:
		if len(x) > 40 {
			x = x[:40] + "…"
		}
		return fmt.Sprintf("str %q", x)
	}
	return pyType(v)
}

// orderedItems returns the entries of a dict in insertion order.
func orderedItems(v any) (keys, values []any, ok bool) {
	switch d := v.(type) {
	case *types.OrderedDict:
		for e := d.List.Front(); e != nil; e = e.Next() {
			entry := e.Value.(*types.OrderedDictEntry)
			keys = append(keys, entry.Key)
			values = append(values, entry.Value)
		}
		return keys, values, true
	case *types.Dict:
		seen := map[any]int{}
		for _, entry := range *d {
			if s, isStr := entry.Key.(string); isStr {
				if i, dup := seen[s]; dup {
					values[i] = entry.Value
					continue
				}
				seen[s] = len(keys)
			}
			keys = append(keys, entry.Key)
			values = append(values, entry.Value)
		}
		return keys, values, true
	}
	return nil, nil, false
}

// rejectTorchScript gives a clear error for archives of scripted modules.
func rejectTorchScript(names []string) error {
	for _, n := range names {
		if strings.HasSuffix(n, "/constants.pkl") {
			return errors.New("TorchScript archives are not supported (save model.state_dict() instead)")
		}
	}
	return nil
}

// listItems returns the items of a list or tuple.
func listItems(v any) ([]any, bool) {
	switch x := v.(type) {
	case *types.List:
		return *x, true
	case *types.Tuple:
		return *x, true
	}
	return nil, false
}
