package hostile

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"testing"
)

// pickler writes pickle opcodes, enough of them for a state dict.
type pickler struct{ b []byte }

func (p *pickler) op(ops ...byte) { p.b = append(p.b, ops...) }

func (p *pickler) proto(v byte) { p.op(0x80, v) }

// global pushes module.name with GLOBAL (protocol 2).
func (p *pickler) global(module, name string) {
	p.op('c')
	p.b = append(p.b, module+"\n"+name+"\n"...)
}

// stackGlobal pushes module.name with STACK_GLOBAL (protocol 4).
func (p *pickler) stackGlobal(module, name string) {
	p.short(module)
	p.short(name)
	p.op(0x93)
}

func (p *pickler) short(s string) { // SHORT_BINUNICODE
	p.op(0x8c, byte(len(s)))
	p.b = append(p.b, s...)
}

func (p *pickler) unicode(s string) { // BINUNICODE
	p.op('X')
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(len(s)))
	p.b = append(p.b, s...)
}

func (p *pickler) int(v int64) {
	if v >= -1<<31 && v < 1<<31 {
		p.op('J')
		p.b = binary.LittleEndian.AppendUint32(p.b, uint32(int32(v)))
		return
	}
	p.op(0x8a, 8) // LONG1
	p.b = binary.LittleEndian.AppendUint64(p.b, uint64(v))
}

const (
	mark       = '('
	stop       = '.'
	tuple      = 't'
	emptyTuple = ')'
	reduce     = 'R'
	setItems   = 'u'
	binPersID  = 'Q'
	newFalse   = 0x89
)

// orderedDict opens collections.OrderedDict() and a MARK for its items.
func (p *pickler) orderedDict() {
	p.global("collections", "OrderedDict")
	p.op(emptyTuple, reduce, mark)
}

// tensor pushes _rebuild_tensor_v2(('storage', torch.<class>, key, 'cpu',
// numel), offset, shape, stride, False, OrderedDict()).
func (p *pickler) tensor(class, key string, numel, offset int64, shape, stride []int64) {
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.op(mark, mark)
	p.unicode("storage")
	p.global("torch", class)
	p.unicode(key)
	p.unicode("cpu")
	p.int(numel)
	p.op(tuple, binPersID)
	p.int(offset)
	p.op(mark)
	for _, d := range shape {
		p.int(d)
	}
	p.op(tuple, mark)
	for _, d := range stride {
		p.int(d)
	}
	p.op(tuple, newFalse)
	p.global("collections", "OrderedDict")
	p.op(emptyTuple, reduce, tuple, reduce)
}

// tensorPickle is a state dict of one tensor, "encoder.weight".
func tensorPickle(class string, numel int64, shape, stride []int64) []byte {
	var p pickler
	p.proto(2)
	p.orderedDict()
	p.unicode("encoder.weight")
	p.tensor(class, "0", numel, 0, shape, stride)
	p.op(setItems, stop)
	return p.b
}

// entry is one zip entry. method zip.Deflate compresses data; claimed,
// when not 0, replaces the uncompressed size the headers state.
type entry struct {
	name    string
	data    []byte
	method  uint16
	claimed uint64
}

// pthZip is a PyTorch zip checkpoint of the given entries, under archive/.
func pthZip(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, e := range entries {
		if e.claimed != 0 {
			// A raw entry whose header lies about its size.
			fw, err := w.CreateRaw(&zip.FileHeader{Name: "archive/" + e.name, Method: e.method,
				CompressedSize64: uint64(len(e.data)), UncompressedSize64: e.claimed})
			if err != nil {
				t.Fatal(err)
			}
			fw.Write(e.data)
			continue
		}
		fw, err := w.CreateHeader(&zip.FileHeader{Name: "archive/" + e.name, Method: e.method})
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(e.data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rezip rewrites a zip checkpoint with edit applied to each entry's data.
func rezip(t *testing.T, b []byte, edit func(name string, data []byte) []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		var d bytes.Buffer
		d.ReadFrom(rc)
		rc.Close()
		fw, err := w.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(edit(f.Name, d.Bytes()))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
