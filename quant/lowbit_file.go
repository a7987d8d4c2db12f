package quant

import (
	"fmt"

	"github.com/lstmq/lstmq/safetensors"
)

// The files' form of the low-bit formats (see the format comment in
// file.go): codes packed LSB first, b bits each, into ceil(cols·b/8) bytes
// per row (for 4 bits, code 2i in the low nibble of byte i and code 2i+1 in
// its high nibble), scales and minimums beside them.

// packedCols is the bytes of one row of cols b-bit codes.
func packedCols(cols, bits int) int { return (cols*bits + 7) / 8 }

// packCodes packs rows×cols codes of bits bits each, row by row.
func packCodes(codes []uint8, rows, cols, bits int) []uint8 {
	rb := packedCols(cols, bits)
	out := make([]uint8, rows*rb)
	for r := range rows {
		dst := out[r*rb : (r+1)*rb]
		for c, u := range codes[r*cols : (r+1)*cols] {
			bit := c * bits
			v := uint16(u) << (bit % 8)
			dst[bit/8] |= uint8(v)
			if bit%8+bits > 8 {
				dst[bit/8+1] |= uint8(v >> 8)
			}
		}
	}
	return out
}

// unpackCodes is packCodes' inverse.
func unpackCodes(packed []uint8, rows, cols, bits int) []uint8 {
	rb := packedCols(cols, bits)
	out := make([]uint8, rows*cols)
	mask := uint16(1)<<bits - 1
	for r := range rows {
		src := packed[r*rb : (r+1)*rb]
		for c := range cols {
			bit := c * bits
			v := uint16(src[bit/8])
			if bit%8+bits > 8 {
				v |= uint16(src[bit/8+1]) << 8
			}
			out[r*cols+c] = uint8(v >> (bit % 8) & mask)
		}
	}
	return out
}

// tensors returns the file's tensors of l under name.
func (l *lowBitData) tensors(name string) []safetensors.Tensor {
	nb, nsb := l.blocks()
	ts := []safetensors.Tensor{safetensors.FromU8(name, []int{l.rows, packedCols(l.cols, l.f.Bits)},
		packCodes(l.codes, l.rows, l.cols, l.f.Bits))}
	switch l.f.Kind {
	case '0':
		ts = append(ts, safetensors.FromBits16(name+".scale", safetensors.F16, []int{l.rows, nb}, l.d))
	case '1':
		ts = append(ts, safetensors.FromBits16(name+".scale", safetensors.F16, []int{l.rows, nb}, l.d),
			safetensors.FromBits16(name+".min", safetensors.F16, []int{l.rows, nb}, l.m))
	default:
		ts = append(ts, safetensors.FromBits16(name+".scale", safetensors.F16, []int{l.rows, nsb}, l.d),
			safetensors.FromBits16(name+".min", safetensors.F16, []int{l.rows, nsb}, l.m),
			safetensors.FromU8(name+".block_scale", []int{l.rows, nb}, l.s),
			safetensors.FromU8(name+".block_min", []int{l.rows, nb}, l.n))
	}
	return ts
}

// lowBit reads a rows×cols weight of format f.
func (d *decoder) lowBit(name string, rows, cols int, f LowBit) (*Weight, error) {
	l := &lowBitData{f: f, rows: rows, cols: cols}
	nb, nsb := l.blocks()
	t, err := d.tensor(name, safetensors.U8, rows, packedCols(cols, f.Bits))
	if err != nil {
		return nil, err
	}
	packed, err := t.U8()
	if err != nil {
		return nil, err
	}
	l.codes = unpackCodes(packed, rows, cols, f.Bits)
	f16s := func(suffix string, n int) ([]uint16, error) {
		t, err := d.tensor(name+suffix, safetensors.F16, rows, n)
		if err != nil {
			return nil, err
		}
		return t.Bits16(safetensors.F16)
	}
	sixBits := func(suffix string) ([]uint8, error) {
		t, err := d.tensor(name+suffix, safetensors.U8, rows, nb)
		if err != nil {
			return nil, err
		}
		v, err := t.U8()
		for _, x := range v {
			if x > subMax && err == nil {
				err = fmt.Errorf("tensor %q: value %d is over the 6-bit %d", name+suffix, x, subMax)
			}
		}
		return v, err
	}
	switch f.Kind {
	case '0':
		l.d, err = f16s(".scale", nb)
	case '1':
		if l.d, err = f16s(".scale", nb); err == nil {
			l.m, err = f16s(".min", nb)
		}
	default:
		if l.d, err = f16s(".scale", nsb); err == nil {
			if l.m, err = f16s(".min", nsb); err == nil {
				if l.s, err = sixBits(".block_scale"); err == nil {
					l.n, err = sixBits(".block_min")
				}
			}
		}
	}
	if err != nil {
		return nil, err
	}
	w, err := l.weight()
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", name, err)
	}
	return w, nil
}

// tensors returns the file's tensors of e: its codes as U8 [tokens, dim]
// with 8 bits, packed as packCodes does with fewer; the float scale and
// zero point of each row.
func (e *Embedding) tensors() []safetensors.Tensor {
	q := e.Q
	cols := e.dim
	if e.Bits < 8 {
		q, cols = packCodes(e.Q, e.tokens, e.dim, e.Bits), packedCols(e.dim, e.Bits)
	}
	return []safetensors.Tensor{safetensors.FromU8("encoder.weight", []int{e.tokens, cols}, q),
		safetensors.FromF32("encoder.weight.scale", []int{e.tokens}, e.Scales),
		safetensors.FromF32("encoder.weight.zero_point", []int{e.tokens}, e.ZeroPoints)}
}
