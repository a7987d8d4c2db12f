package pth

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/lstmq/lstmq/internal/errkind"

	"github.com/nlpodyssey/gopickle/types"
)

// The state dict of a model quantized by
// torch.ao.quantization.quantize_dynamic(model, {nn.LSTM, nn.Linear},
// dtype=torch.qint8) holds, besides float tensors:
//
//	<linear>.scale, <linear>.zero_point         tensor(1.), tensor(0) (int64): the
//	                                            output qparams, unused by dynamic modules
//	<linear>._packed_params.dtype               torch.qint8 (a dtype)
//	<linear>._packed_params._packed_params      (weight, bias): a qint8 tensor, a
//	                                            float tensor or None
//	<lstm>._all_weight_values.<n>.param         a torch.ScriptObject of class
//	                                            rnn.CellParamsBase, one per layer
//	                                            and direction
//
// A quantized tensor is pickled as torch._utils._rebuild_qtensor(storage,
// offset, size, stride, qparams, requires_grad, backward_hooks) on a
// torch.QInt8Storage, qparams being (torch.per_tensor_affine, scale,
// zero_point) or (torch.per_channel_affine, scales, zero_points, axis) with
// scales a float64 tensor and zero_points an int64 one. A torch.ScriptObject
// is pickled as NEWOBJ of the global torch.ScriptObject, then BUILD with
// (state, qualified class name), state being what the class's __getstate__
// returns:
//
//	__torch__.torch.classes.quantized.LinearPackedParamsBase
//	    (weight, bias)                          as _packed_params above
//	__torch__.torch.classes.rnn.CellParamsBase
//	    (kind, tensors, doubles, longs, packed)
//	    kind "quantized_dynamic": tensors [b_ih, b_hh], doubles [],
//	    longs [reduce_range], packed [W_ih, W_hh] as LinearPackedParamsBase
//	    (each with its bias again: the one the kernels add)
//
// quantize_dynamic(model, …, dtype=torch.float16) writes the same keys
// with torch.float16 as the Linear's dtype, and packed params whose weight
// is a float32 tensor (PackedLinearWeightFp16::unpack converts the fp16
// weights back to float: "fp16 weight is serialized as float"); its
// CellParamsBase is kind "quantized_dynamic_fp16" with tensors, doubles
// and longs empty, the biases only in the packed params.
//
// Load reads exactly these; other ScriptObject classes, other quantized
// dtypes (quint8, …) and schemes are refused.

// The torch.ScriptObject classes Load reads.
const (
	LinearPackedParams = "__torch__.torch.classes.quantized.LinearPackedParamsBase"
	CellParams         = "__torch__.torch.classes.rnn.CellParamsBase"
)

// Value is a state dict entry that is not a tensor: one of
//
//	DType   a dtype, "qint8" (torch.qint8) or "float16" (torch.float16)
//	Tuple   a tuple of tensors, nil for None
//	Packed  a torch.ScriptObject (packed params)
type Value struct {
	DType  string
	Tuple  []*Tensor
	Packed *Packed
}

// Packed is a torch.ScriptObject of class LinearPackedParams or CellParams,
// with the state its __getstate__ returned:
//
//	LinearPackedParams  Tensors = {weight (qint8, or float for float16
//	                    dynamic quantization), bias (float, or nil for None)}
//	CellParams          Kind, Tensors, Doubles, Longs, Packed (LinearPackedParams)
type Packed struct {
	Class   string
	Kind    string
	Tensors []*Tensor
	Doubles []float64
	Longs   []int64
	Packed  []*Packed
}

// qtensorRecord is what _rebuild_qtensor returns: its arguments, checked
// later, when the key of the tensor is known.
type qtensorRecord struct {
	args []any
}

type rebuildQTensor struct{}

// Call is torch._utils._rebuild_qtensor(storage, storage_offset, size,
// stride, quantizer_params, requires_grad, backward_hooks).
func (rebuildQTensor) Call(args ...any) (any, error) {
	return &qtensorRecord{args: args}, nil
}

// dtypeValue is a torch dtype named by a global (torch.qint8).
type dtypeValue string

// qscheme is a torch qscheme named by a global (torch.per_tensor_affine).
type qscheme string

// scriptObjectClass is the global torch.ScriptObject.
type scriptObjectClass struct{}

// PyNew is NEWOBJ: torch.ScriptObject.__new__(torch.ScriptObject).
func (scriptObjectClass) PyNew(args ...any) (any, error) {
	if len(args) != 0 {
		return nil, fmt.Errorf("torch.ScriptObject with %d arguments", len(args))
	}
	return &scriptObject{}, nil
}

// scriptObject is a torch.ScriptObject, its class and state set by BUILD.
type scriptObject struct {
	class string
	state any
	set   bool
}

// PySetState is BUILD with (state, qualified class name). Classes other
// than LinearPackedParams and CellParams are refused here.
func (o *scriptObject) PySetState(state any) error {
	if o.set {
		return errors.New("torch.ScriptObject built twice")
	}
	t, ok := state.(*types.Tuple)
	if !ok || t.Len() != 2 {
		return fmt.Errorf("torch.ScriptObject state is %s, not (state, class name)", pyType(state))
	}
	class, ok := t.Get(1).(string)
	if !ok {
		return fmt.Errorf("torch.ScriptObject class name is %s", pyType(t.Get(1)))
	}
	if class != LinearPackedParams && class != CellParams {
		return errkind.Errorf(ErrUnsafePickle, "refusing to load torch.ScriptObject of class %s", show(class))
	}
	o.class, o.state, o.set = class, t.Get(0), true
	return nil
}

// value converts a state dict entry that is not a tensor.
func (l *loader) value(v any) (*Value, error) {
	switch x := v.(type) {
	case dtypeValue:
		return &Value{DType: string(x)}, nil
	case *types.Tuple:
		if x.Len() == 0 {
			return nil, errors.New("empty tuple")
		}
		out := make([]*Tensor, x.Len())
		for i, it := range *x {
			if it == nil {
				continue
			}
			t, err := l.anyTensor(it)
			if err != nil {
				return nil, fmt.Errorf("tuple item %d: %w", i, err)
			}
			out[i] = t
		}
		return &Value{Tuple: out}, nil
	case *scriptObject:
		p, err := l.packed(x, false)
		if err != nil {
			return nil, err
		}
		return &Value{Packed: p}, nil
	}
	if _, _, ok := orderedItems(v); ok {
		return nil, fmt.Errorf("not a tensor but a nested %s (a training checkpoint? save model.state_dict() alone)", pyType(v))
	}
	return nil, fmt.Errorf("not a tensor (%s)", pyRepr(v))
}

// packed converts a torch.ScriptObject; inner is set for the packed params
// inside a CellParams, which must be LinearPackedParams.
func (l *loader) packed(o *scriptObject, inner bool) (*Packed, error) {
	if !o.set {
		return nil, errors.New("torch.ScriptObject without state")
	}
	items, ok := o.state.(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("%s: state is %s, not a tuple", o.class, pyType(o.state))
	}
	p := &Packed{Class: o.class}
	switch {
	case o.class == LinearPackedParams:
		if items.Len() != 2 {
			return nil, fmt.Errorf("%s: state of %d items, want (weight, bias)", o.class, items.Len())
		}
		var wt *Tensor
		var err error
		switch w := items.Get(0).(type) {
		case *qtensorRecord:
			wt, err = l.qtensor(w)
		case *tensorRecord:
			// float16 dynamic quantization: the weight unpacked to float.
			wt, err = l.tensor(w)
			if err == nil && wt.Data == nil {
				err = fmt.Errorf("%s tensor, want a float one", wt.DType)
			}
		default:
			return nil, fmt.Errorf("%s: weight is %s, not a tensor", o.class, pyType(items.Get(0)))
		}
		if err != nil {
			return nil, fmt.Errorf("%s: weight: %w", o.class, err)
		}
		var bt *Tensor
		if b := items.Get(1); b != nil {
			rec, ok := b.(*tensorRecord)
			if !ok {
				return nil, fmt.Errorf("%s: bias is %s, not a tensor", o.class, pyType(b))
			}
			if bt, err = l.tensor(rec); err != nil {
				return nil, fmt.Errorf("%s: bias: %w", o.class, err)
			}
		}
		p.Tensors = []*Tensor{wt, bt}
	case inner:
		return nil, fmt.Errorf("%s inside packed params", o.class)
	default: // CellParams
		if items.Len() != 5 {
			return nil, fmt.Errorf("%s: state of %d items, want (kind, tensors, doubles, longs, packed)", o.class, items.Len())
		}
		if p.Kind, ok = items.Get(0).(string); !ok {
			return nil, fmt.Errorf("%s: kind is %s", o.class, pyType(items.Get(0)))
		}
		lists := make([][]any, 4)
		for i, what := range []string{"tensors", "doubles", "longs", "packed params"} {
			if lists[i], ok = listItems(items.Get(i + 1)); !ok {
				return nil, fmt.Errorf("%s: %s are %s, not a list", o.class, what, pyType(items.Get(i+1)))
			}
		}
		for i, v := range lists[0] {
			t, err := l.anyTensor(v)
			if err != nil {
				return nil, fmt.Errorf("%s: tensor %d: %w", o.class, i, err)
			}
			p.Tensors = append(p.Tensors, t)
		}
		for _, v := range lists[1] {
			d, ok := v.(float64)
			if !ok {
				return nil, fmt.Errorf("%s: double is %s", o.class, pyType(v))
			}
			p.Doubles = append(p.Doubles, d)
		}
		for _, v := range lists[2] {
			n, ok := v.(int)
			if !ok {
				return nil, fmt.Errorf("%s: long is %s", o.class, pyRepr(v))
			}
			p.Longs = append(p.Longs, int64(n))
		}
		for i, v := range lists[3] {
			so, ok := v.(*scriptObject)
			if !ok {
				return nil, fmt.Errorf("%s: packed params %d are %s", o.class, i, pyType(v))
			}
			q, err := l.packed(so, true)
			if err != nil {
				return nil, fmt.Errorf("%s: packed params %d: %w", o.class, i, err)
			}
			p.Packed = append(p.Packed, q)
		}
	}
	return p, nil
}

// qtensor checks a _rebuild_qtensor record and reads its int8 values and
// quantizer.
func (l *loader) qtensor(rec *qtensorRecord) (*Tensor, error) {
	a := rec.args
	if len(a) < 5 || len(a) > 7 {
		return nil, fmt.Errorf("_rebuild_qtensor with %d arguments", len(a))
	}
	v, err := l.view(a[0], a[1], a[2], a[3])
	if err != nil {
		return nil, err
	}
	if v.s.class.dtype != "qint8" {
		return nil, fmt.Errorf("quantized tensor on torch.%s; only torch.QInt8Storage (qint8) is read", v.s.class.name)
	}
	qp, ok := a[4].(*types.Tuple)
	if !ok || qp.Len() == 0 {
		return nil, fmt.Errorf("quantizer params are %s, not a tuple", pyType(a[4]))
	}
	scheme, ok := qp.Get(0).(qscheme)
	if !ok {
		return nil, fmt.Errorf("qscheme is %s", pyRepr(qp.Get(0)))
	}
	t := &Tensor{Shape: v.shape, DType: "qint8", Storage: v.s.key, QScheme: string(scheme)}
	switch scheme {
	case "per_tensor_affine":
		if qp.Len() != 3 {
			return nil, fmt.Errorf("%s with %d quantizer params, want (qscheme, scale, zero_point)", scheme, qp.Len())
		}
		scale, ok := qp.Get(1).(float64)
		if !ok {
			return nil, fmt.Errorf("scale is %s", pyRepr(qp.Get(1)))
		}
		zp, ok := qp.Get(2).(int)
		if !ok {
			return nil, fmt.Errorf("zero point is %s", pyRepr(qp.Get(2)))
		}
		t.Scales, t.ZeroPoints = []float64{scale}, []int64{int64(zp)}
	case "per_channel_affine":
		if qp.Len() != 4 {
			return nil, fmt.Errorf("%s with %d quantizer params, want (qscheme, scales, zero_points, axis)", scheme, qp.Len())
		}
		axis, ok := qp.Get(3).(int)
		if !ok || axis < 0 || axis >= len(v.shape) {
			return nil, fmt.Errorf("axis %s for shape %v", pyRepr(qp.Get(3)), v.shape)
		}
		t.Axis = axis
		n := v.shape[axis]
		if t.Scales, err = l.float64s(qp.Get(1), n); err != nil {
			return nil, fmt.Errorf("scales: %w", err)
		}
		zps, err := l.vector(qp.Get(2), n)
		if err != nil {
			return nil, fmt.Errorf("zero points: %w", err)
		}
		if zps.s.class.dtype != "int64" {
			return nil, fmt.Errorf("zero points: torch.%s, want int64", zps.s.class.name)
		}
		if err := l.spend(int64(n), 8); err != nil {
			return nil, err
		}
		t.ZeroPoints = make([]int64, n)
		if err := l.int64s(t.ZeroPoints, zps); err != nil {
			return nil, fmt.Errorf("zero points: %w", err)
		}
	default:
		return nil, fmt.Errorf("unsupported qscheme torch.%s", scheme)
	}
	for _, s := range t.Scales {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return nil, fmt.Errorf("scale %v", s)
		}
	}
	for _, z := range t.ZeroPoints {
		if z < math.MinInt8 || z > math.MaxInt8 {
			return nil, fmt.Errorf("zero point %d out of the range of qint8", z)
		}
	}
	if err := l.spend(v.numel, 1); err != nil {
		return nil, err
	}
	t.Int8 = make([]int8, v.numel)
	if err := l.int8s(t.Int8, v); err != nil {
		return nil, err
	}
	return t, nil
}

// vector checks that v is a _rebuild_tensor_v2 record of a 1-D tensor of n
// elements and returns its view.
func (l *loader) vector(v any, n int) (*view, error) {
	rec, ok := v.(*tensorRecord)
	if !ok {
		return nil, fmt.Errorf("%s, not a tensor", pyType(v))
	}
	if len(rec.args) < 4 || len(rec.args) > 7 {
		return nil, fmt.Errorf("_rebuild_tensor_v2 with %d arguments", len(rec.args))
	}
	w, err := l.view(rec.args[0], rec.args[1], rec.args[2], rec.args[3])
	if err != nil {
		return nil, err
	}
	if len(w.shape) != 1 || w.shape[0] != n {
		return nil, fmt.Errorf("shape %v, want [%d]", w.shape, n)
	}
	return w, nil
}

// float64s reads a 1-D float64 or float32 tensor of n elements exactly.
func (l *loader) float64s(v any, n int) ([]float64, error) {
	w, err := l.vector(v, n)
	if err != nil {
		return nil, err
	}
	dtype := w.s.class.dtype
	if dtype != "float64" && dtype != "float32" {
		return nil, fmt.Errorf("torch.%s, want float64", w.s.class.name)
	}
	if err := l.spend(int64(n), 8); err != nil {
		return nil, err
	}
	b, err := l.bytes(w.s)
	if err != nil {
		return nil, err
	}
	out := make([]float64, n)
	w.walk(func(o, pos, n, step int) {
		for i := range n {
			if dtype == "float64" {
				out[o+i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*(pos+i*step):]))
			} else {
				out[o+i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*(pos+i*step):])))
			}
		}
	})
	return out, nil
}
