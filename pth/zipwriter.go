package pth

import (
	"encoding/binary"
	"errors"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"strings"
)

// alignment is the offset alignment of entry data in PyTorch's zip writer.
const alignment = 64

// zipWriter writes a zip archive exactly as PyTorch's PyTorchStreamWriter
// (caffe2/serialize/inline_container.cc over miniz 2.1.0, opened with
// MZ_ZIP_FLAG_WRITE_ZIP64, built with MINIZ_NO_TIME) does. For each entry,
// with o its offset and s its size, both below 2^32-1:
//
//	local header  "PK\3\4", version 0, flags 0x0808 (0x0800 if s = 0:
//	              UTF-8 name, data descriptor follows), method 0 (stored),
//	              time 0, date 0, CRC and sizes 0, name, extra field
//	              "FB" n "Z"×n, n = the padding that puts the data at a
//	              multiple of 64
//	data          s bytes
//	descriptor    "PK\7\8", CRC-32, s, s (absent if s = 0)
//
// and the central directory lists each entry ("PK\1\2", version made by
// 0, version needed 0, the local header's flags, method, time and date,
// CRC-32, s, s, no extra field, no comment, attributes 0, o), followed by
// a zip64 end of central directory record (version made by 0x031e, needed
// 0x2d), its locator and the end of central directory record, with no
// comment. When s or o reach 2^32-1, the local header's extra field
// starts with a zip64 field (ID 1: s, 0 for the compressed size — miniz
// writes the header before it knows it — when s does; o when o does), the
// descriptor's sizes are 64-bit, and the central directory entry gets the
// same zip64 field (with the true compressed size) and 0xffffffff in the
// 32-bit fields it replaces.
type zipWriter struct {
	w       io.Writer
	off     int64  // bytes written so far
	central []byte // central directory entries so far
	entries int64
	err     error // first write error
	buf     []byte
	crc     hash.Hash32
}

func newZipWriter(w io.Writer) *zipWriter {
	return &zipWriter{w: w, crc: crc32.NewIEEE()}
}

func (z *zipWriter) write(b []byte) {
	if z.err != nil {
		return
	}
	n, err := z.w.Write(b)
	z.off += int64(n)
	z.err = err
}

// Write writes entry data, adding it to the CRC.
func (z *zipWriter) Write(b []byte) (int, error) {
	z.crc.Write(b)
	z.write(b)
	if z.err != nil {
		return 0, z.err
	}
	return len(b), nil
}

// zip64Extra returns the zip64 extended information field miniz writes:
// the uncompressed and compressed sizes if big, then the local header
// offset if bigOffset.
func zip64Extra(big bool, size, compressed uint64, bigOffset bool, offset uint64) []byte {
	if !big && !bigOffset {
		return nil
	}
	b := binary.LittleEndian.AppendUint16(nil, 1)
	n := 0
	if big {
		n += 16
	}
	if bigOffset {
		n += 8
	}
	b = binary.LittleEndian.AppendUint16(b, uint16(n))
	if big {
		b = binary.LittleEndian.AppendUint64(b, size)
		b = binary.LittleEndian.AppendUint64(b, compressed)
	}
	if bigOffset {
		b = binary.LittleEndian.AppendUint64(b, offset)
	}
	return b
}

// entry writes one stored entry of size bytes, which data must write to
// the io.Writer it is given.
func (z *zipWriter) entry(name string, size int64, data func(io.Writer) error) error {
	if z.err != nil {
		return z.err
	}
	if len(name) > math.MaxUint16 {
		return errors.New("zip entry name too long")
	}
	const max32 = math.MaxUint32
	offset := z.off
	big, bigOffset := size >= max32, offset >= max32
	x64 := zip64Extra(big, uint64(size), 0, bigOffset, uint64(offset))
	// PyTorch's getPadding: the data would start after the 30-byte
	// header, the name, the zip64 field and the 4 bytes of "FB" n.
	start := offset + 30 + int64(len(name)) + int64(len(x64)) + 4
	pad := int((alignment - start%alignment) % alignment)
	extra := append(x64, 'F', 'B', byte(pad), byte(pad>>8))
	extra = append(extra, strings.Repeat("Z", pad)...)
	flags := uint16(0x0800)
	if size > 0 {
		flags |= 0x0008
	}
	h := z.buf[:0]
	h = binary.LittleEndian.AppendUint32(h, 0x04034b50)
	h = binary.LittleEndian.AppendUint16(h, 0) // version needed
	h = binary.LittleEndian.AppendUint16(h, flags)
	h = append(h, make([]byte, 2+2+2+4+4+4)...) // method, time, date, CRC, sizes
	h = binary.LittleEndian.AppendUint16(h, uint16(len(name)))
	h = binary.LittleEndian.AppendUint16(h, uint16(len(extra)))
	h = append(h, name...)
	h = append(h, extra...)
	z.write(h)
	z.buf = h

	z.crc.Reset()
	before := z.off
	if err := data(z); err != nil {
		return err
	}
	if z.err != nil {
		return z.err
	}
	if z.off-before != size {
		panic("pth: zip entry " + name + ": wrong data size")
	}
	crc := z.crc.Sum32()

	if size > 0 {
		d := z.buf[:0]
		d = binary.LittleEndian.AppendUint32(d, 0x08074b50)
		d = binary.LittleEndian.AppendUint32(d, crc)
		if x64 != nil {
			d = binary.LittleEndian.AppendUint64(d, uint64(size))
			d = binary.LittleEndian.AppendUint64(d, uint64(size))
		} else {
			d = binary.LittleEndian.AppendUint32(d, uint32(size))
			d = binary.LittleEndian.AppendUint32(d, uint32(size))
		}
		z.write(d)
		z.buf = d
	}

	x64 = zip64Extra(big, uint64(size), uint64(size), bigOffset, uint64(offset))
	c := z.central
	c = binary.LittleEndian.AppendUint32(c, 0x02014b50)
	c = binary.LittleEndian.AppendUint16(c, 0) // version made by
	c = binary.LittleEndian.AppendUint16(c, 0) // version needed
	c = binary.LittleEndian.AppendUint16(c, flags)
	c = append(c, make([]byte, 2+2+2)...) // method, time, date
	c = binary.LittleEndian.AppendUint32(c, crc)
	c = binary.LittleEndian.AppendUint32(c, uint32(min(size, max32)))
	c = binary.LittleEndian.AppendUint32(c, uint32(min(size, max32)))
	c = binary.LittleEndian.AppendUint16(c, uint16(len(name)))
	c = binary.LittleEndian.AppendUint16(c, uint16(len(x64)))
	c = append(c, make([]byte, 2+2+2+4)...) // comment length, disk, attributes
	c = binary.LittleEndian.AppendUint32(c, uint32(min(offset, max32)))
	c = append(c, name...)
	c = append(c, x64...)
	z.central = c
	z.entries++
	return z.err
}

// close writes the central directory and the end records.
func (z *zipWriter) close() error {
	cdOffset, cdSize := z.off, int64(len(z.central))
	z.write(z.central)
	eocd64 := z.off
	b := binary.LittleEndian.AppendUint32(nil, 0x06064b50)
	b = binary.LittleEndian.AppendUint64(b, 56-12) // size of the rest of the record
	b = binary.LittleEndian.AppendUint16(b, 0x031e)
	b = binary.LittleEndian.AppendUint16(b, 0x002d)
	b = binary.LittleEndian.AppendUint32(b, 0) // this disk
	b = binary.LittleEndian.AppendUint32(b, 0) // disk of the central directory
	b = binary.LittleEndian.AppendUint64(b, uint64(z.entries))
	b = binary.LittleEndian.AppendUint64(b, uint64(z.entries))
	b = binary.LittleEndian.AppendUint64(b, uint64(cdSize))
	b = binary.LittleEndian.AppendUint64(b, uint64(cdOffset))
	// zip64 end of central directory locator
	b = binary.LittleEndian.AppendUint32(b, 0x07064b50)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint64(b, uint64(eocd64))
	b = binary.LittleEndian.AppendUint32(b, 1) // disks
	// end of central directory record
	b = binary.LittleEndian.AppendUint32(b, 0x06054b50)
	b = binary.LittleEndian.AppendUint32(b, 0) // disk numbers
	b = binary.LittleEndian.AppendUint16(b, uint16(min(z.entries, math.MaxUint16)))
	b = binary.LittleEndian.AppendUint16(b, uint16(min(z.entries, math.MaxUint16)))
	b = binary.LittleEndian.AppendUint32(b, uint32(min(cdSize, math.MaxUint32)))
	b = binary.LittleEndian.AppendUint32(b, uint32(min(cdOffset, math.MaxUint32)))
	b = binary.LittleEndian.AppendUint16(b, 0) // comment length
	z.write(b)
	return z.err
}
