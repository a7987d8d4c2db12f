package pth

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/nlpodyssey/gopickle/types"
)

// stateDict turns the unpickled root into a StateDict.
func (l *loader) stateDict() (*StateDict, error) {
	keys, values := l.keys, l.values
	if _, _, ok := orderedItems(l.root); !ok && l.tree == nil {
		return nil, l.wrap(fmt.Errorf("the checkpoint holds a %s, not a state dict", pyType(l.root)))
	}
	sd := &StateDict{Keys: make([]string, 0, len(keys)), Tensors: make(map[string]*Tensor, len(keys))}
	for i, k := range keys {
		key, ok := k.(string)
		if !ok {
			return nil, l.wrap(fmt.Errorf("state dict key %s is not a string", pyRepr(k)))
		}
		var err error
		switch v := values[i].(type) {
		case *tensorRecord, *qtensorRecord:
			var t *Tensor
			if t, err = l.anyTensor(v); err == nil {
				sd.Tensors[key] = t
			}
		default:
			var qv *Value
			if qv, err = l.value(v); err == nil {
				if sd.Values == nil {
					sd.Values = map[string]*Value{}
				}
				sd.Values[key] = qv
			}
		}
		if err != nil {
			return nil, l.wrap(fmt.Errorf("key %q: %w", key, err))
		}
		sd.Keys = append(sd.Keys, key)
	}
	if l.tree != nil {
		if err := checkModuleShapes(l.tree, sd.Keys, sd.Tensors); err != nil {
			return nil, l.wrap(err)
		}
		sd.Module = l.tree.module
		sd.Metadata = l.tree.metadata
		return sd, nil
	}
	sd.Metadata = metadata(l.root)
	return sd, nil
}

// metadata returns the _metadata attribute of a state dict, an
// OrderedDict(name: {'version': v}), or nil if there is none or it has
// another form.
func metadata(root any) []ModuleVersion {
	od, ok := root.(*types.OrderedDict)
	if !ok {
		return nil
	}
	names, values, ok := orderedItems(od.PyDict["_metadata"])
	if !ok {
		return nil
	}
	mv := make([]ModuleVersion, 0, len(names))
	for i, n := range names {
		name, ok := n.(string)
		if !ok {
			return nil
		}
		keys, vals, ok := orderedItems(values[i])
		if !ok || len(keys) != 1 || keys[0] != "version" {
			return nil
		}
		v, ok := vals[0].(int)
		if !ok {
			return nil
		}
		mv = append(mv, ModuleVersion{Name: name, Version: v})
	}
	return mv
}

// anyTensor converts a tensor or quantized tensor record.
func (l *loader) anyTensor(v any) (*Tensor, error) {
	switch r := v.(type) {
	case *tensorRecord:
		return l.tensor(r)
	case *qtensorRecord:
		return l.qtensor(r)
	}
	return nil, fmt.Errorf("not a tensor (%s)", pyRepr(v))
}

// tensor checks the view described by a _rebuild_tensor_v2 record against
// its storage and reads it into a contiguous tensor: Data (float32) for
// floating point storages, Int64 for int64 ones.
func (l *loader) tensor(rec *tensorRecord) (*Tensor, error) {
	a := rec.args
	if len(a) < 4 || len(a) > 7 {
		return nil, fmt.Errorf("_rebuild_tensor_v2 with %d arguments", len(a))
	}
	v, err := l.view(a[0], a[1], a[2], a[3])
	if err != nil {
		return nil, err
	}
	t := &Tensor{Shape: v.shape, DType: v.s.class.dtype, Storage: v.s.key}
	switch v.s.class.dtype {
	case "int64":
		if err := l.spend(v.numel, 8); err != nil {
			return nil, err
		}
		t.Int64 = make([]int64, v.numel)
		if err := l.int64s(t.Int64, v); err != nil {
			return nil, err
		}
	case "qint8":
		return nil, fmt.Errorf("torch.%s outside a quantized tensor", v.s.class.name)
	default:
		if err := l.spend(v.numel, 4); err != nil {
			return nil, err
		}
		t.Data = make([]float32, v.numel)
		if err := l.floats(t.Data, v); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// spend takes numel elements of size bytes from the output budget.
func (l *loader) spend(numel, size int64) error {
	if numel > l.budget/size {
		return fmt.Errorf("%d elements: too many for a %d-byte file", numel, l.size)
	}
	l.budget -= numel * size
	return nil
}

// view is a checked view of a storage: element i_0, …, i_{d-1} is
// storage[offset + Σ i_k·stride[k]], and every one lies in the storage.
type view struct {
	s             *storage
	offset        int
	shape, stride []int
	numel         int64
}

// view checks a view of a storage (the first four arguments of
// _rebuild_tensor_v2 and _rebuild_qtensor) before anything is allocated.
// Its storage must hold a dtype the package reads.
func (l *loader) view(storageArg, offsetArg, sizeArg, strideArg any) (*view, error) {
	s, ok := storageArg.(*storage)
	if !ok {
		return nil, fmt.Errorf("storage is %s", pyType(storageArg))
	}
	if s.class.dtype == "" {
		return nil, fmt.Errorf("unsupported dtype (torch.%s); only float32, float16, bfloat16, float64, int64 and qint8 tensors are read", s.class.name)
	}
	offset, ok := offsetArg.(int)
	if !ok || offset < 0 {
		return nil, fmt.Errorf("bad storage offset %s", pyRepr(offsetArg))
	}
	shape, err := ints(sizeArg, "size")
	if err != nil {
		return nil, err
	}
	stride, err := ints(strideArg, "stride")
	if err != nil {
		return nil, err
	}
	if len(shape) != len(stride) {
		return nil, fmt.Errorf("%d sizes but %d strides", len(shape), len(stride))
	}
	// numel = Π shape, checked for overflow before anything is allocated.
	numel := int64(1)
	for _, d := range shape {
		if d == 0 {
			numel = 0
			break
		}
	}
	for _, d := range shape {
		if numel == 0 {
			break
		}
		if int64(d) > l.budget/numel {
			return nil, fmt.Errorf("shape %v: too many elements for a %d-byte file", shape, l.size)
		}
		numel *= int64(d)
	}
	// The last element viewed, o + Σ (n_k-1)·s_k, must lie in the storage.
	if int64(offset) > s.numel || (numel > 0 && int64(offset) >= s.numel) {
		return nil, fmt.Errorf("storage offset %d exceeds storage %q of %d elements", offset, s.key, s.numel)
	}
	if numel > 0 {
		last := int64(offset)
		for k := range shape {
			n, st := int64(shape[k]-1), int64(stride[k])
			if n == 0 || st == 0 {
				continue // size-1 dims may carry any stride
			}
			if n > (s.numel-1-last)/st {
				return nil, fmt.Errorf("size %v, stride %v at offset %d exceed storage %q of %d elements",
					shape, stride, offset, s.key, s.numel)
			}
			last += n * st
		}
	}
	return &view{s: s, offset: offset, shape: shape, stride: stride, numel: numel}, nil
}

// ints decodes a tuple of non-negative ints.
func ints(v any, what string) ([]int, error) {
	items, ok := listItems(v)
	if !ok {
		return nil, fmt.Errorf("%s is %s, not a tuple", what, pyType(v))
	}
	if len(items) > maxDims {
		return nil, fmt.Errorf("%s has %d dimensions", what, len(items))
	}
	out := make([]int, len(items))
	for i, x := range items {
		n, ok := x.(int)
		if !ok || n < 0 || n > math.MaxInt32*64 {
			return nil, fmt.Errorf("bad %s %s", what, pyRepr(x))
		}
		out[i] = n
	}
	return out, nil
}

// walk calls row(out, pos, n, step) for each innermost row of the view, in
// row-major order: elements out … out+n-1 of the contiguous result are
// storage[pos + i·step], i < n. The view has been checked.
func (v *view) walk(row func(out, pos, n, step int)) {
	d := len(v.shape)
	if v.numel == 0 {
		return
	}
	if d == 0 {
		row(0, v.offset, 1, 1)
		return
	}
	inner, innerStride := v.shape[d-1], v.stride[d-1]
	idx := make([]int, d-1)
	pos := v.offset // storage index of element idx·0
	for out := 0; out < int(v.numel); out += inner {
		row(out, pos, inner, innerStride)
		// Advance the outer index like an odometer.
		for k := d - 2; k >= 0; k-- {
			idx[k]++
			pos += v.stride[k]
			if idx[k] < v.shape[k] {
				break
			}
			pos -= idx[k] * v.stride[k]
			idx[k] = 0
		}
	}
}

// convert sets dst[i] = float32(storage[pos + i·step]), the storage's raw
// bytes b holding elements of dtype.
func convert(dst []float32, b []byte, dtype string, pos, step int) {
	switch dtype {
	case "float32":
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*(pos+i*step):]))
		}
	case "float16":
		for i := range dst {
			dst[i] = halfToFloat32(binary.LittleEndian.Uint16(b[2*(pos+i*step):]))
		}
	case "bfloat16":
		for i := range dst {
			dst[i] = bfloat16ToFloat32(binary.LittleEndian.Uint16(b[2*(pos+i*step):]))
		}
	case "float64":
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*(pos+i*step):])))
		}
	default:
		panic(errors.New("pth: convert: unchecked dtype " + dtype))
	}
}
