package pth

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/lstmq/lstmq/internal/errkind"
)

// legacyMagic is the first pickle of a legacy checkpoint.
var legacyMagic, _ = new(big.Int).SetString("1950a86a20f9469cfc6c", 16)

const legacyProtocol = 1001

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// readLegacy reads the legacy format: magic, protocol and system info
// pickles, the state dict pickle, the storage keys pickle, then for each
// key an int64 element count and the raw storage.
func (l *loader) readLegacy(r io.ReaderAt) error {
	cr := &countingReader{r: io.NewSectionReader(r, 0, l.size)}
	br := bufio.NewReader(cr)
	pos := func() int64 { return cr.n - int64(br.Buffered()) }
	// next reads the next pickle; errors name it and where it starts.
	next := func(what string, persistentLoad func(any) (any, error)) (any, error) {
		start := pos()
		pkl, err := scanPickle(br, l.size-start)
		if err != nil {
			return nil, fmt.Errorf("%s pickle at offset %d: %w", what, start, err)
		}
		v, err := unpickle(pkl, persistentLoad)
		if err != nil {
			return nil, fmt.Errorf("%s pickle at offset %d: %w", what, start, err)
		}
		return v, nil
	}
	v, err := next("magic number", nil)
	if err != nil {
		return err
	}
	if m, ok := v.(*big.Int); !ok || m.Cmp(legacyMagic) != 0 {
		return errkind.Errorf(ErrFormat, "not a PyTorch checkpoint (bad magic number)")
	}
	if v, err = next("protocol version", nil); err != nil {
		return err
	}
	if p, ok := v.(int); !ok || p != legacyProtocol {
		return fmt.Errorf("unsupported legacy protocol version %s", pyRepr(v))
	}
	if v, err = next("system info", nil); err != nil {
		return err
	}
	keys, values, _ := orderedItems(v)
	for i, k := range keys {
		if k == "little_endian" && values[i] != true {
			return errors.New("big-endian checkpoints are not supported")
		}
	}
	l.root, err = next("state dict", l.persistentLoad(true))
	if err != nil {
		return err
	}
	if err := l.entries(); err != nil {
		return err
	}
	if err := l.checkStorages(nil); err != nil {
		return err
	}
	if v, err = next("storage keys", nil); err != nil {
		return err
	}
	list, ok := v.(interface{ Len() int })
	if !ok {
		return fmt.Errorf("storage keys: a %s, not a list", pyType(v))
	}
	if list.Len() != len(l.storages) {
		return fmt.Errorf("storage keys: %d keys for %d storages", list.Len(), len(l.storages))
	}
	// The storages follow: an int64 element count, then the raw bytes,
	// which tensors read from there.
	at := pos()
	items, _ := listItems(v)
	for _, k := range items {
		key, ok := k.(string)
		if !ok {
			return fmt.Errorf("storage keys: a key is %s", pyType(k))
		}
		s := l.storages[key]
		if s == nil {
			return fmt.Errorf("storage %q: listed but not used by the state dict", key)
		}
		if s.located {
			return fmt.Errorf("storage %q: listed twice", key)
		}
		var hdr [8]byte
		if at > l.size-8 {
			return l.keyError(s, fmt.Errorf("storage %q: %w", key, truncated(io.ErrUnexpectedEOF)))
		}
		if _, err := r.ReadAt(hdr[:], at); err != nil {
			return l.keyError(s, fmt.Errorf("storage %q: %w", key, truncated(err)))
		}
		at += 8
		if n := int64(binary.LittleEndian.Uint64(hdr[:])); n != s.numel {
			return l.keyError(s, fmt.Errorf("storage %q: the file says %d elements, the pickle %d", key, n, s.numel))
		}
		nbytes := s.nbytes()
		if nbytes > l.size-at {
			return l.keyError(s, errkind.Errorf(ErrTruncated, "storage %q: truncated file (%d bytes needed at offset %d, %d left)",
				key, nbytes, at, l.size-at))
		}
		s.r, s.off, s.located = r, at, true
		at += nbytes
	}
	return nil
}
