package safetensors

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"unsafe"
)

// F32 returns a float32 tensor's values.
func (t *Tensor) F32() ([]float32, error) {
	out, err := values[float32](t, F32)
	if err != nil {
		return nil, err
	}
	if bigEndian {
		for i, v := range out {
			out[i] = math.Float32frombits(bits.ReverseBytes32(math.Float32bits(v)))
		}
	}
	return out, nil
}

// I32 returns an int32 tensor's values.
func (t *Tensor) I32() ([]int32, error) {
	out, err := values[int32](t, I32)
	if err != nil {
		return nil, err
	}
	if bigEndian {
		for i, v := range out {
			out[i] = int32(bits.ReverseBytes32(uint32(v)))
		}
	}
	return out, nil
}

// I8 returns an int8 tensor's values.
func (t *Tensor) I8() ([]int8, error) { return values[int8](t, I8) }

// U8 returns a uint8 tensor's values (a copy).
func (t *Tensor) U8() ([]uint8, error) { return values[uint8](t, U8) }

// bigEndian reports whether the host stores numbers big-endian, so that the
// little-endian data read into a slice needs its bytes swapped.
var bigEndian = binary.NativeEndian.Uint16([]byte{0, 1}) == 1

// values returns a new slice of t's numel values of type d, the raw
// little-endian bytes copied (or, for a tensor of an opened File, read from
// the file) straight into its memory.
func values[T float32 | int32 | int8 | uint8 | uint16](t *Tensor, d DType) ([]T, error) {
	if err := t.want(d); err != nil {
		return nil, err
	}
	out := make([]T, t.Numel())
	if len(out) == 0 {
		return out, nil
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), len(out)*d.Size())
	if t.Data != nil || t.src == nil {
		copy(b, t.Data)
		return out, nil
	}
	if _, err := t.src.ReadAt(b, t.off); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	return out, nil
}

func (t *Tensor) want(d DType) error {
	if t.DType != d {
		return fmt.Errorf("tensor %q is %s, want %s", t.Name, t.DType, d)
	}
	if t.Data == nil && t.src != nil {
		return nil // Open checked the size against the header
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

// Bits16 returns the raw 16-bit values of a tensor of dtype d (F16, BF16,
// U16 or I16), little-endian in the file, as uint16 bit patterns.
func (t *Tensor) Bits16(d DType) ([]uint16, error) {
	if d.Size() != 2 {
		return nil, fmt.Errorf("tensor %q: %s is not a 16-bit dtype", t.Name, d)
	}
	out, err := values[uint16](t, d)
	if err != nil {
		return nil, err
	}
	if bigEndian {
		for i, v := range out {
			out[i] = bits.ReverseBytes16(v)
		}
	}
	return out, nil
}

// FromBits16 makes a tensor of the 16-bit dtype d (F16, BF16, U16 or I16)
// from bit patterns.
func FromBits16(name string, d DType, shape []int, v []uint16) Tensor {
	if d.Size() != 2 {
		panic("safetensors: FromBits16: not a 16-bit dtype")
	}
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], x)
	}
	return Tensor{Name: name, DType: d, Shape: shape, Data: b}
}
