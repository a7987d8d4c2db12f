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
	keys, values, ok := orderedItems(l.root)
	if !ok {
		return nil, l.wrap(fmt.Errorf("the checkpoint holds a %s, not a state dict", pyType(l.root)))
	}
	sd := &StateDict{Keys: make([]string, 0, len(keys)), Tensors: make(map[string]*Tensor, len(keys))}
	for i, k := range keys {
		key, ok := k.(string)
		if !ok {
			return nil, l.wrap(fmt.Errorf("state dict key %s is not a string", pyRepr(k)))
		}
		rec, ok := values[i].(*tensorRecord)
		if !ok {
			return nil, l.wrap(fmt.Errorf("key %q: not a tensor (%s)", key, pyRepr(values[i])))
		}
		t, err := l.tensor(rec)
		if err != nil {
			return nil, l.wrap(fmt.Errorf("key %q: %w", key, err))
		}
		sd.Keys = append(sd.Keys, key)
		sd.Tensors[key] = t
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

// tensor checks the view described by a _rebuild_tensor_v2 record against
// its storage and gathers it into a contiguous float32 tensor.
func (l *loader) tensor(rec *tensorRecord) (*Tensor, error) {
	a := rec.args
	if len(a) < 4 || len(a) > 7 {
		return nil, fmt.Errorf("_rebuild_tensor_v2 with %d arguments", len(a))
	}
	s, ok := a[0].(*storage)
	if !ok {
		return nil, fmt.Errorf("storage is %s", pyType(a[0]))
	}
	if s.class.dtype == "" {
		return nil, fmt.Errorf("unsupported dtype (torch.%s); only float32, float16, bfloat16 and float64 tensors are read", s.class.name)
	}
	offset, ok := a[1].(int)
	if !ok || offset < 0 {
		return nil, fmt.Errorf("bad storage offset %s", pyRepr(a[1]))
	}
	shape, err := ints(a[2], "size")
	if err != nil {
		return nil, err
	}
	stride, err := ints(a[3], "stride")
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
		if int64(d) > l.budget/4/numel {
			return nil, fmt.Errorf("shape %v: too many elements for a %d-byte file", shape, l.size)
		}
		numel *= int64(d)
	}
	if numel*4 > l.budget {
		return nil, fmt.Errorf("shape %v: too many elements for a %d-byte file", shape, l.size)
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
	l.budget -= numel * 4
	t := &Tensor{Shape: shape, Data: make([]float32, numel), DType: s.class.dtype, Storage: s.key}
	if numel > 0 {
		gather(t.Data, s, offset, shape, stride)
	}
	return t, nil
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

// gather copies dst[Σ i_k·Π_{j>k} n_j] = convert(storage[o + Σ i_k·s_k]).
// The view has been checked against the storage.
func gather(dst []float32, s *storage, offset int, shape, stride []int) {
	d := len(shape)
	if d == 0 {
		convert(dst[:1], s, offset, 1)
		return
	}
	inner, innerStride := shape[d-1], stride[d-1]
	idx := make([]int, d-1)
	pos := offset // storage index of element idx·0
	for out := 0; out < len(dst); out += inner {
		convert(dst[out:out+inner], s, pos, innerStride)
		// Advance the outer index like an odometer.
		for k := d - 2; k >= 0; k-- {
			idx[k]++
			pos += stride[k]
			if idx[k] < shape[k] {
				break
			}
			pos -= idx[k] * stride[k]
			idx[k] = 0
		}
	}
}

// convert sets dst[i] = float32(storage[pos + i·step]).
func convert(dst []float32, s *storage, pos, step int) {
	b := s.data
	switch s.class.dtype {
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
		panic(errors.New("pth: convert: unchecked dtype " + s.class.dtype))
	}
}
