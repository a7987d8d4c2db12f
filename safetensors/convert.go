package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
)

// F32 returns a float32 tensor's values.
func (t *Tensor) F32() ([]float32, error) {
	if err := t.want(F32); err != nil {
		return nil, err
	}
	out := make([]float32, len(t.Data)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return out, nil
}

// I32 returns an int32 tensor's values.
func (t *Tensor) I32() ([]int32, error) {
	if err := t.want(I32); err != nil {
		return nil, err
	}
	out := make([]int32, len(t.Data)/4)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return out, nil
}

// I8 returns an int8 tensor's values.
func (t *Tensor) I8() ([]int8, error) {
	if err := t.want(I8); err != nil {
		return nil, err
	}
	out := make([]int8, len(t.Data))
	for i, b := range t.Data {
		out[i] = int8(b)
	}
	return out, nil
}

// U8 returns a uint8 tensor's values (a copy).
func (t *Tensor) U8() ([]uint8, error) {
	if err := t.want(U8); err != nil {
		return nil, err
	}
	return append([]uint8(nil), t.Data...), nil
}

func (t *Tensor) want(d DType) error {
	if t.DType != d {
		return fmt.Errorf("tensor %q is %s, want %s", t.Name, t.DType, d)
	}
	if len(t.Data) != t.Numel()*d.Size() {
		return fmt.Errorf("tensor %q: %d bytes for %s%v", t.Name, len(t.Data), d, t.Shape)
	}
	return nil
}

// FromF32 makes a float32 tensor.
func FromF32(name string, shape []int, v []float32) Tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return Tensor{Name: name, DType: F32, Shape: shape, Data: b}
}

// FromI32 makes an int32 tensor.
func FromI32(name string, shape []int, v []int32) Tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return Tensor{Name: name, DType: I32, Shape: shape, Data: b}
}

// FromI8 makes an int8 tensor.
func FromI8(name string, shape []int, v []int8) Tensor {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	return Tensor{Name: name, DType: I8, Shape: shape, Data: b}
}

// FromU8 makes a uint8 tensor (sharing v).
func FromU8(name string, shape []int, v []uint8) Tensor {
	return Tensor{Name: name, DType: U8, Shape: shape, Data: v}
}
