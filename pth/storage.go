package pth

import (
	"archive/zip"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"unsafe"
)

// storage is a storage named by a persistent id: its dtype and element
// count, and where its raw little-endian bytes lie in the file once
// located (checkStorages for zip archives, the storage records of a
// legacy file).
//
// Nothing holds a whole storage in memory on the way to a tensor: a view
// that is contiguous (every tensor torch.save writes from a module's state
// dict) is read from the file straight into the tensor's elements. Only a
// strided view reads its storage whole (data) and gathers from it.
type storage struct {
	key   string
	class *storageClass
	numel int64

	r       io.ReaderAt // the file, once located
	off     int64       // offset of the first byte in r
	entry   string      // the zip entry holding it, "" in a legacy file
	located bool
	// checkCRC says that the bytes must have the CRC-32 crc (zip entries);
	// crcOK that they were found to.
	crc             uint32
	checkCRC, crcOK bool

	data []byte // the whole storage, read only for strided views
}

// nbytes is the storage's size in bytes.
func (s *storage) nbytes() int64 { return s.numel * s.class.size }

// chunk is the size of the pieces a storage is read and converted in: big
// enough to amortise a read call, small enough to stay in L2 while its
// CRC is computed and its elements converted.
const chunk = 256 << 10

// hostLittleEndian reports whether this machine stores numbers as the file
// does, so that float32, int64 and int8 storages read straight into the
// memory of the slices returned.
var hostLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// readAt reads len(b) bytes of storage s starting at byte pos.
func (l *loader) readAt(s *storage, b []byte, pos int64) error {
	if len(b) == 0 {
		return nil
	}
	if _, err := s.r.ReadAt(b, s.off+pos); err != nil {
		return l.storageError(s, truncated(err))
	}
	return nil
}

// storageError says which storage (and zip entry) err is about.
func (l *loader) storageError(s *storage, err error) error {
	if s.entry != "" {
		return fmt.Errorf("storage %q: %s: %w", s.key, show(s.entry), err)
	}
	return fmt.Errorf("storage %q: %w", s.key, err)
}

// scan reads the n elements of storage s from element first on, in pieces
// of at most chunk bytes, and calls fn(b, i) with each piece b, whose
// first element is element first+i. If the elements are the whole storage
// the CRC is checked on the way.
func (l *loader) scan(s *storage, first, n int64, fn func(b []byte, i int64)) error {
	size := s.class.size
	whole := first == 0 && n == s.numel
	var sum uint32
	buf := make([]byte, min(n*size, chunk/size*size))
	for i := int64(0); i < n; {
		b := buf[:min(int64(len(buf)), (n-i)*size)]
		if err := l.readAt(s, b, (first+i)*size); err != nil {
			return err
		}
		if whole && s.checkCRC {
			sum = crc32.Update(sum, crc32.IEEETable, b)
		}
		fn(b, i)
		i += int64(len(b)) / size
	}
	if whole {
		return l.verified(s, sum)
	}
	return nil
}

// readInto reads elements first … first+len(b)/size-1 of storage s
// straight into b, the memory of the slice to return. If they are the
// whole storage the CRC is checked on the way, a chunk at a time while it
// is in cache.
func (l *loader) readInto(s *storage, b []byte, first int64) error {
	whole := first == 0 && int64(len(b)) == s.nbytes()
	var sum uint32
	for i := 0; i < len(b); i += chunk {
		p := b[i:min(i+chunk, len(b))]
		if err := l.readAt(s, p, first*s.class.size+int64(i)); err != nil {
			return err
		}
		if whole && s.checkCRC {
			sum = crc32.Update(sum, crc32.IEEETable, p)
		}
	}
	if whole {
		return l.verified(s, sum)
	}
	return nil
}

// verified checks the CRC-32 of the whole storage, sum, against the zip
// entry's, once.
func (l *loader) verified(s *storage, sum uint32) error {
	if !s.checkCRC || s.crcOK {
		return nil
	}
	if sum != s.crc {
		return l.storageError(s, zip.ErrChecksum)
	}
	s.crcOK = true
	return nil
}

// verifyAll checks the CRC of every storage no tensor read whole.
func (l *loader) verifyAll() error {
	for _, s := range l.order {
		if s.checkCRC && !s.crcOK {
			if err := l.scan(s, 0, s.numel, func([]byte, int64) {}); err != nil {
				return l.keyError(s, err)
			}
		}
	}
	return nil
}

// bytes returns the whole storage, reading it the first time.
func (l *loader) bytes(s *storage) ([]byte, error) {
	if s.data == nil {
		b := make([]byte, s.nbytes())
		if err := l.readInto(s, b, 0); err != nil {
			return nil, err
		}
		s.data = b
	}
	return s.data, nil
}

// floats fills dst with the elements of view v converted to float32.
func (l *loader) floats(dst []float32, v *view) error {
	s := v.s
	if !v.contiguous() {
		b, err := l.bytes(s)
		if err != nil {
			return err
		}
		v.walk(func(out, pos, n, step int) { convert(dst[out:out+n], b, s.class.dtype, pos, step) })
		return nil
	}
	if len(dst) == 0 {
		return nil
	}
	if s.class.dtype == "float32" && hostLittleEndian {
		return l.readInto(s, unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 4*len(dst)), int64(v.offset))
	}
	return l.scan(s, int64(v.offset), int64(len(dst)), func(b []byte, i int64) {
		d := dst[i:]
		convert(d[:len(b)/int(s.class.size)], b, s.class.dtype, 0, 1)
	})
}

// int64s fills dst with the elements of view v of an int64 storage.
func (l *loader) int64s(dst []int64, v *view) error {
	s := v.s
	if !v.contiguous() {
		b, err := l.bytes(s)
		if err != nil {
			return err
		}
		v.walk(func(out, pos, n, step int) {
			for i := range n {
				dst[out+i] = int64(binary.LittleEndian.Uint64(b[8*(pos+i*step):]))
			}
		})
		return nil
	}
	if len(dst) == 0 {
		return nil
	}
	if hostLittleEndian {
		return l.readInto(s, unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 8*len(dst)), int64(v.offset))
	}
	return l.scan(s, int64(v.offset), int64(len(dst)), func(b []byte, i int64) {
		for j := range len(b) / 8 {
			dst[i+int64(j)] = int64(binary.LittleEndian.Uint64(b[8*j:]))
		}
	})
}

// int8s fills dst with the elements of view v of a qint8 storage.
func (l *loader) int8s(dst []int8, v *view) error {
	if !v.contiguous() {
		b, err := l.bytes(v.s)
		if err != nil {
			return err
		}
		v.walk(func(out, pos, n, step int) {
			for i := range n {
				dst[out+i] = int8(b[pos+i*step])
			}
		})
		return nil
	}
	if len(dst) == 0 {
		return nil
	}
	return l.readInto(v.s, unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), len(dst)), int64(v.offset))
}

// contiguous reports whether the view's elements are consecutive in its
// storage, in row-major order: stride[k] = Π_{j>k} shape[j] for every
// dimension of size > 1.
func (v *view) contiguous() bool {
	want := 1
	for k := len(v.shape) - 1; k >= 0; k-- {
		if v.shape[k] != 1 && v.stride[k] != want {
			return v.numel == 0
		}
		want *= v.shape[k]
	}
	return true
}
