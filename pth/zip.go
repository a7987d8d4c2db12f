package pth

import (
	"archive/zip"
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/lstmq/lstmq/internal/errkind"
)

// maxDeflateRatio is the largest expansion deflate can produce (a stream
// of maximal-length back-references); a larger claimed size is a lie.
// Only data.pkl and the small metadata entries may be compressed.
const maxDeflateRatio = 1032

// readZip reads the zip format: <prefix>/data.pkl, <prefix>/data/<key>.
func (l *loader) readZip(r io.ReaderAt) error {
	zr, err := zip.NewReader(r, l.size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		// We never extract, so odd names are harmless.
		return errkind.Errorf(ErrTruncated, "truncated or corrupt zip archive (%d bytes): %w", l.size, err)
	}
	if len(zr.File) == 0 {
		return errors.New("empty zip archive")
	}
	files := make(map[string]*zip.File, len(zr.File))
	names := make([]string, 0, len(zr.File))
	for _, f := range zr.File {
		files[f.Name] = f
		names = append(names, f.Name)
	}
	if err := rejectTorchScript(names); err != nil {
		return err
	}
	// Like PyTorch's reader, the archive's folder is the first entry's.
	prefix, _, ok := strings.Cut(zr.File[0].Name, "/")
	if !ok {
		return fmt.Errorf("zip entry %q is not inside a folder", zr.File[0].Name)
	}
	prefix += "/"
	if f := files[prefix+"byteorder"]; f != nil {
		b, err := l.readEntry(f, 16)
		if err != nil {
			return err
		}
		if order := strings.TrimSpace(string(b)); order != "little" {
			return fmt.Errorf("byte order %q is not supported", order)
		}
	}
	pf := files[prefix+"data.pkl"]
	if pf == nil {
		return fmt.Errorf("no %s in the archive", show(prefix+"data.pkl"))
	}
	if err := l.checkEntry(pf, maxPickle); err != nil {
		return err
	}
	rc, err := pf.Open()
	if err != nil {
		return fmt.Errorf("%s: %w", show(pf.Name), err)
	}
	pkl, err := scanPickle(bufio.NewReader(rc), int64(pf.UncompressedSize64))
	rc.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", show(pf.Name), err)
	}
	l.root, err = unpickle(pkl, l.persistentLoad(false))
	if err != nil {
		return fmt.Errorf("%s: %w", show(pf.Name), err)
	}
	if err := l.entries(); err != nil {
		return err
	}
	return l.checkStorages(func(s *storage) error {
		f := files[prefix+"data/"+s.key]
		if f == nil {
			return fmt.Errorf("storage %q: no %s in the archive", s.key, show(prefix+"data/"+s.key))
		}
		if want := uint64(s.numel * s.class.size); f.UncompressedSize64 != want {
			return fmt.Errorf("storage %q: %s holds %d bytes, the pickle says %d×%d",
				s.key, show(f.Name), f.UncompressedSize64, s.numel, s.class.size)
		}
		if f.Method != zip.Store {
			// Stored entries cannot hold more than the file; compressed
			// ones could inflate a small file into a huge allocation.
			return fmt.Errorf("storage %q: %s is compressed (method %d); lstmq reads only uncompressed storages, as torch.save writes them",
				s.key, show(f.Name), f.Method)
		}
		if err := l.locate(r, s, f); err != nil {
			return fmt.Errorf("storage %q: %w", s.key, err)
		}
		return nil
	})
}

// locate finds where the data of the stored entry f, storage s, lies in
// the file; tensors read it from there.
func (l *loader) locate(r io.ReaderAt, s *storage, f *zip.File) error {
	if err := l.checkEntry(f, l.size); err != nil {
		return err
	}
	if err := l.claim(f); err != nil {
		return err
	}
	off, err := f.DataOffset()
	if err != nil {
		return fmt.Errorf("%s: %w", show(f.Name), truncated(err))
	}
	if n := int64(f.CompressedSize64); off < 0 || off > l.size || n > l.size-off {
		return errkind.Errorf(ErrTruncated, "%s: truncated file (%d bytes needed at offset %d, %d left)", show(f.Name), n, off, l.size-max(off, 0))
	}
	s.r, s.off, s.entry, s.located = r, off, f.Name, true
	// archive/zip checks the CRC only if there is one, or a data descriptor.
	s.crc, s.checkCRC = f.CRC32, f.CRC32 != 0 || f.Flags&0x8 != 0
	return nil
}

// claim adds the entry's bytes to those read from the archive. Entries may
// overlap in a crafted archive: what all of them together read is bounded
// by the size of the file.
func (l *loader) claim(f *zip.File) error {
	l.zipRead += int64(f.CompressedSize64)
	if l.zipRead > l.size {
		return fmt.Errorf("%s: zip entries overlap (they hold more bytes than the file)", show(f.Name))
	}
	return nil
}

// checkEntry checks, before reading anything, that the entry's claimed
// size is at most limit and possible for its compressed size in a file of
// this size.
func (l *loader) checkEntry(f *zip.File, limit int64) error {
	c, u := f.CompressedSize64, f.UncompressedSize64
	if u > uint64(limit) {
		return fmt.Errorf("%s: %d bytes exceed the limit of %d", show(f.Name), u, limit)
	}
	if c > uint64(l.size) {
		return fmt.Errorf("%s: %d compressed bytes exceed the file size (%d)", show(f.Name), c, l.size)
	}
	switch f.Method {
	case zip.Store:
		if c != u {
			return fmt.Errorf("%s: stored entry with %d compressed and %d uncompressed bytes", show(f.Name), c, u)
		}
	case zip.Deflate:
		if u > maxDeflateRatio*c+64 {
			return fmt.Errorf("%s: %d bytes cannot inflate to %d bytes (zip bomb?)", show(f.Name), c, u)
		}
	default:
		return fmt.Errorf("%s: unsupported compression method %d", show(f.Name), f.Method)
	}
	return nil
}

// readEntry reads a whole entry of at most limit bytes and checks its CRC.
func (l *loader) readEntry(f *zip.File, limit int64) ([]byte, error) {
	if err := l.checkEntry(f, limit); err != nil {
		return nil, err
	}
	if err := l.claim(f); err != nil {
		return nil, err
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", show(f.Name), err)
	}
	defer rc.Close()
	b := make([]byte, f.UncompressedSize64)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("%s: %w", show(f.Name), truncated(err))
	}
	// Reading to EOF makes archive/zip verify the CRC.
	var one [1]byte
	if n, err := rc.Read(one[:]); n != 0 || err != io.EOF {
		if err == nil || err == io.EOF {
			err = errors.New("longer than its header says")
		}
		return nil, fmt.Errorf("%s: %w", show(f.Name), err)
	}
	return b, nil
}
