package pth

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// entry is one zip entry for makeZip. A claimed size of 0 means the true
// size; method Deflate entries are written raw, as given.
type entry struct {
	name    string
	data    []byte
	method  uint16
	claimed uint64
}

// makeZip builds a zip archive whose headers say whatever the entries say.
func makeZip(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, e := range entries {
		u := uint64(len(e.data))
		if e.claimed != 0 {
			u = e.claimed
		}
		fw, err := w.CreateRaw(&zip.FileHeader{
			Name: e.name, Method: e.method, CRC32: crc32.ChecksumIEEE(e.data),
			CompressedSize64: uint64(len(e.data)), UncompressedSize64: u,
		})
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

// tensorPickle is a state dict pickle {key: _rebuild_tensor_v2(
// ('storage', torch.<class>, "0", 'cpu', numel), offset, shape, stride)}.
func tensorPickle(key, class string, numel, offset int64, shape, stride []int64) []byte {
	var p pickler
	p.proto(2)
	p.global("collections", "OrderedDict")
	p.op(opEmptyTuple, opReduce, opMark)
	p.unicode(key)
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.op(opMark, opMark)
	p.unicode("storage")
	p.global("torch", class)
	p.unicode("0")
	p.unicode("cpu")
	p.int(numel)
	p.op(opTuple, opBinPersID)
	p.int(offset)
	p.op(opMark)
	for _, d := range shape {
		p.int(d)
	}
	p.op(opTuple, opMark)
	for _, d := range stride {
		p.int(d)
	}
	p.op(opTuple, opNewFalse)
	p.global("collections", "OrderedDict")
	p.op(opEmptyTuple, opReduce, opTuple, opReduce, opSetItems, opStop)
	return p.b
}

func floats(n int) []byte { return make([]byte, 4*n) }

func readBytes(b []byte, name string) (*StateDict, error) {
	return Read(bytes.NewReader(b), int64(len(b)), name)
}

// wantError reads b and checks that it fails with a one-line error that
// starts with the file's name and contains want.
func wantError(t *testing.T, b []byte, want string) {
	t.Helper()
	sd, err := readBytes(b, "dir/bad.pth")
	if err == nil {
		t.Fatalf("loaded %v, want error %q", sd.Keys, want)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "dir/bad.pth: ") || !strings.Contains(msg, want) || strings.ContainsAny(msg, "\r\n") {
		t.Fatalf("error %q, want one line starting with dir/bad.pth: and containing %q", msg, want)
	}
}

func TestHostileZip(t *testing.T) {
	six := floats(6)
	pkl := func(b []byte) entry { return entry{name: "archive/data.pkl", data: b} }
	data0 := func(b []byte) entry { return entry{name: "archive/data/0", data: b} }
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"ok", makeZip(t, pkl(tensorPickle("w", "FloatStorage", 6, 0, []int64{2, 3}, []int64{3, 1})), data0(six)), ""},
		{"absurd numel", makeZip(t, pkl(tensorPickle("w", "FloatStorage", 1e12, 0, []int64{1e12}, []int64{1})), data0(six)),
			`storage "0": 1000000000000 elements of 4 bytes exceed the file size`},
		{"shape beyond storage", makeZip(t, pkl(tensorPickle("w", "FloatStorage", 6, 0, []int64{3, 3}, []int64{3, 1})), data0(six)),
			`key "w": size [3 3], stride [3 1] at offset 0 exceed storage "0" of 6 elements`},
		{"stride beyond storage", makeZip(t, pkl(tensorPickle("w", "FloatStorage", 6, 0, []int64{2, 3}, []int64{1, 3})), data0(six)),
			`key "w": size [2 3], stride [1 3]`},
		{"offset beyond storage", makeZip(t, pkl(tensorPickle("w", "FloatStorage", 6, 7, []int64{}, []int64{})), data0(six)),
			`key "w": storage offset 7 exceeds`},
		{"offset at end", makeZip(t, pkl(tensorPickle("w", "FloatStorage", 6, 6, []int64{1}, []int64{1})), data0(six)),
			`key "w": storage offset 6 exceeds`},
		{"broadcast bomb", makeZip(t, pkl(tensorPickle("w", "FloatStorage", 1, 0, []int64{1 << 33}, []int64{0})), data0(floats(1))),
			`key "w": shape [8589934592]: too many elements`},
		{"int32 tensor", makeZip(t, pkl(tensorPickle("w", "IntStorage", 6, 0, []int64{6}, []int64{1})), data0(six)),
			`key "w": unsupported dtype (torch.IntStorage)`},
		{"qint8 storage as a float tensor", makeZip(t, pkl(tensorPickle("w", "QInt8Storage", 6, 0, []int64{6}, []int64{1})), entry{name: "archive/data/0", data: make([]byte, 6)}),
			`key "w": torch.QInt8Storage outside a quantized tensor`},
		{"missing storage", makeZip(t, pkl(tensorPickle("w", "FloatStorage", 6, 0, []int64{6}, []int64{1}))),
			`no archive/data/0`},
		{"short storage", makeZip(t, pkl(tensorPickle("w", "FloatStorage", 6, 0, []int64{6}, []int64{1})), data0(floats(5))),
			`archive/data/0 holds 20 bytes, the pickle says 6×4`},
		{"pickle bomb", makeZip(t, entry{name: "archive/data.pkl", data: []byte{1, 2, 3}, method: zip.Deflate, claimed: 1 << 40}),
			`archive/data.pkl: 1099511627776 bytes exceed the limit`},
		{"storage bomb", makeZip(t, pkl(tensorPickle("w", "FloatStorage", 1000, 0, []int64{1000}, []int64{1})),
			entry{name: "archive/data/0", data: []byte{1, 2}, method: zip.Deflate, claimed: 4000}, entry{name: "archive/pad", data: floats(1000)}),
			`key "w": storage "0": archive/data/0 is compressed`},
		{"pickle inflates", makeZip(t, entry{name: "archive/data.pkl", data: []byte{1, 2}, method: zip.Deflate, claimed: 4000}),
			`cannot inflate to 4000 bytes`},
		{"overlapping entries", overlapping(t), "zip entries overlap"},
		{"big endian", makeZip(t, pkl(tensorPickle("w", "FloatStorage", 6, 0, []int64{6}, []int64{1})), data0(six),
			entry{name: "archive/byteorder", data: []byte("big")}), `byte order "big"`},
		{"torchscript", makeZip(t, entry{name: "m/constants.pkl", data: []byte(".")}, entry{name: "m/data.pkl", data: []byte(".")}),
			"TorchScript"},
		{"no data.pkl", makeZip(t, data0(six)), "no archive/data.pkl"},
		{"bad crc", func() []byte {
			b := makeZip(t, pkl(tensorPickle("w", "FloatStorage", 6, 0, []int64{6}, []int64{1})), data0(six))
			i := bytes.Index(b, append([]byte("archive/data/0"), six[:4]...))
			b[i+len("archive/data/0")] = 1
			return b
		}(), "checksum"},
		{"truncated", makeZip(t, pkl(tensorPickle("w", "FloatStorage", 6, 0, []int64{6}, []int64{1})), data0(six))[:100],
			"truncated"},
		{"not a zip", []byte("PK\x05\x06 hello"), "not a PyTorch zip"},
		{"empty", nil, "truncated file (0 bytes)"},
		{"text", []byte("hello world"), "not a PyTorch checkpoint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			if tc.want == "" {
				sd, err := readBytes(tc.file, "ok.pth")
				if err != nil || len(sd.Tensors["w"].Data) != 6 {
					t.Fatalf("%v %v", sd, err)
				}
				return
			}
			wantError(t, tc.file, tc.want)
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %v to fail", d)
			}
		})
	}
}

// overlapping is a zip whose central directory lists archive/data/1 as a
// second name for the data of archive/data/0, each 4000 bytes of a file of
// less than 8000: the pickle uses both.
func overlapping(t testing.TB) []byte {
	var p pickler
	p.proto(2)
	p.global("collections", "OrderedDict")
	p.op(opEmptyTuple, opReduce, opMark)
	for _, k := range []string{"0", "1"} {
		p.unicode("w" + k)
		p.global("torch._utils", "_rebuild_tensor_v2")
		p.op(opMark, opMark)
		p.unicode("storage")
		p.global("torch", "FloatStorage")
		p.unicode(k)
		p.unicode("cpu")
		p.int(1000)
		p.op(opTuple, opBinPersID)
		p.int(0)
		p.int(1000)
		p.op(0x85) // TUPLE1
		p.int(1)
		p.op(0x85, opNewFalse)
		p.global("collections", "OrderedDict")
		p.op(opEmptyTuple, opReduce, opTuple, opReduce)
	}
	p.op(opSetItems, opStop)
	b := makeZip(t, entry{name: "archive/data.pkl", data: p.b}, entry{name: "archive/data/0", data: floats(1000)})
	// End of central directory: entries at 8 and 10, size at 12, offset at 16.
	eocd := b[len(b)-22:]
	cdOff := binary.LittleEndian.Uint32(eocd[16:])
	cd := b[cdOff : len(b)-22]
	i := bytes.LastIndex(cd, []byte("PK\x01\x02"))
	rec := bytes.Replace(bytes.Clone(cd[i:]), []byte("archive/data/0"), []byte("archive/data/1"), 1)
	out := append(bytes.Clone(b[:len(b)-22]), rec...)
	e := bytes.Clone(eocd)
	binary.LittleEndian.PutUint16(e[8:], 3)
	binary.LittleEndian.PutUint16(e[10:], 3)
	binary.LittleEndian.PutUint32(e[12:], uint32(len(cd)+len(rec)))
	return append(out, e...)
}

// pickleZip wraps a data.pkl in a zip archive.
func pickleZip(t testing.TB, pkl []byte) []byte {
	return makeZip(t, entry{name: "archive/data.pkl", data: pkl})
}

func TestHostilePickle(t *testing.T) {
	u32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	u64 := func(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	od := []byte("\x80\x02ccollections\nOrderedDict\n)R")
	tests := []struct {
		name string
		pkl  []byte
		want string
	}{
		{"os.system", []byte("\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R."), "refusing to load global os.system"},
		{"nested eval", cat(od, []byte("(X\x01\x00\x00\x00wcbuiltins\neval\nX\x01\x00\x00\x001\x85Ru.")), "refusing to load global builtins.eval"},
		{"stack global", []byte("\x80\x04\x8c\x08builtins\x94\x8c\x04exec\x94\x93."), "refusing to load global builtins.exec"},
		{"stack global builtin", []byte("\x80\x04\x8c\x0b__builtin__\x8c\x06object\x93)\x81."), "STACK_GLOBAL (first at offset 23) with module __builtin__"},
		{"copy_reg", []byte("\x80\x02ccopy_reg\n_reconstructor\n."), "refusing to load global copy_reg._reconstructor"},
		{"quint8", cat(od, []byte("ctorch\nquint8\n.")), "quantized checkpoints are not supported beyond quantize_dynamic's qint8 weights (found global torch.quint8)"},
		{"float16 root", cat(od, []byte("ctorch\nfloat16\n.")), "holds a dtype, not a state dict"},
		{"qscheme root", cat([]byte("\x80\x02ctorch\nper_tensor_affine\n.")), "holds a qscheme, not a state dict"},
		{"script object class", cat(od, []byte("(X\x01\x00\x00\x00wctorch\nScriptObject\n)\x81)X\x05\x00\x00\x00os.sy\x86bu.")),
			"refusing to load torch.ScriptObject of class os.sy"},
		{"script object args", cat(od, []byte("(X\x01\x00\x00\x00wctorch\nScriptObject\nK\x01\x85\x81u.")), "torch.ScriptObject with 1 arguments"},
		{"script object unbuilt", cat(od, []byte("(X\x01\x00\x00\x00wctorch\nScriptObject\n)\x81u.")), `key "w": torch.ScriptObject without state`},
		{"dtype in a list", cat(od, []byte("(X\x01\x00\x00\x00w]ctorch\nqint8\nau.")), `key "w": not a tensor (list)`},
		{"unknown opcode", []byte{0x80, 0x02, 0xff, '.'}, "unsupported opcode 0xff"},
		{"ext", []byte{0x80, 0x02, 0x82, 1, '.'}, "unsupported opcode 0x82"},
		{"inst", []byte("(ios\nsystem\n."), "unsupported opcode 0x69"},
		{"long4", cat([]byte{0x80, 0x02, 0x8b}, u32(1<<30), []byte(".")), "integer of 1073741824 bytes"},
		{"long1 empty", []byte{0x80, 0x02, 0x8a, 0, '.'}, "integer of 0 bytes"},
		{"binunicode", cat([]byte{0x80, 0x02, 'X'}, u32(0xffffffff)), "truncated"},
		{"binbytes8", cat([]byte{0x80, 0x04, 0x8e}, u64(1<<62)), "truncated"},
		{"binunicode8", cat([]byte{0x80, 0x04, 0x8d}, u64(1<<63)), "absurd length"},
		{"frame", cat([]byte{0x80, 0x04, 0x95}, u64(1<<40), []byte(".")), "frame of 1099511627776 bytes"},
		{"no stop", []byte{0x80, 0x02, 'N'}, "truncated"},
		{"marks", bytes.Repeat([]byte("("), 10000), "MARKs nested more than 256 deep"},
		{"stack", cat([]byte{0x80, 0x02}, bytes.Repeat([]byte("N"), maxStack+1), []byte(".")),
			"more than 16384 items on the stack at offset 16386"},
		{"nested lists", cat([]byte{0x80, 0x02}, bytes.Repeat([]byte("]"), 100), bytes.Repeat([]byte("a"), 99), []byte(".")),
			"containers nested more than 64 deep at offset 165"},
		{"nested one-tuples", cat([]byte{0x80, 0x02, 'N'}, bytes.Repeat([]byte{0x85}, 1e6), []byte(".")),
			"containers nested more than 64 deep at offset 67"},
		{"nested via memo", cat([]byte{0x80, 0x02, ']', 'q', 0}, bytes.Repeat([]byte("]h\x00aq\x00"), 100), []byte(".")),
			"containers nested more than 64 deep"},
		{"nested dicts", cat([]byte{0x80, 0x02}, bytes.Repeat([]byte("}K\x01"), 100), []byte("}"), bytes.Repeat([]byte("s"), 100), []byte(".")),
			"containers nested more than 64 deep at offset 366"},
		{"odd dict", []byte("(K\x01d."), "malformed"},
		{"odd dict items", []byte("}(K\x01u."), "malformed"},
		{"unhashable key", cat(od, []byte("(C\x01aK\x01u.")), "malformed"},
		{"list root", []byte("]."), "holds a list, not a state dict"},
		{"int key", cat(od, []byte("(K\x01K\x01u.")), "state dict key int 1 is not a string"},
		{"str value", cat(od, []byte("(X\x01\x00\x00\x00wX\x01\x00\x00\x00vu.")), `key "w": not a tensor (str "v")`},
		{"bad persistent id", cat(od, []byte("(X\x01\x00\x00\x00wK\x01Qu.")), "unexpected persistent id int"},
		{"storage class call", cat(od, []byte("(X\x01\x00\x00\x00wctorch\nFloatStorage\n)Ru.")), "REDUCE requires a Callable"},
		{"rebuild garbage", cat(od, []byte("(X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n(K\x01K\x02K\x03K\x04tRu.")),
			`key "w": storage is int`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, pickleZip(t, tc.pkl), tc.want)
		})
	}
}

// legacyFile builds a legacy checkpoint: header pickles, state dict pickle,
// storage keys pickle, then raw storages.
func legacyFile(pkl, keys []byte, storages ...[]byte) []byte {
	b := []byte("\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03.\x80\x02}q\x00X\x0d\x00\x00\x00little_endianq\x01\x88s.")
	b = append(b, pkl...)
	b = append(b, keys...)
	for _, s := range storages {
		b = append(b, s...)
	}
	return b
}

// legacyTensorPickle is tensorPickle with the legacy 6-tuple persistent id.
func legacyTensorPickle(numel int64, view string) []byte {
	p := tensorPickle("w", "FloatStorage", numel, 0, []int64{numel}, []int64{1})
	// Insert the view metadata before the TUPLE closing the persistent id.
	i := bytes.Index(p, []byte("X\x03\x00\x00\x00cpu")) + 8
	for p[i] != opTuple {
		i++
	}
	return append(p[:i:i], append([]byte(view), p[i:]...)...)
}

func TestHostileLegacy(t *testing.T) {
	keys0 := []byte("\x80\x02]X\x01\x00\x00\x000a.")
	storage := func(n uint64, data []byte) []byte { return append(binary.LittleEndian.AppendUint64(nil, n), data...) }
	ok := legacyFile(legacyTensorPickle(6, "N"), keys0, storage(6, floats(6)))
	if sd, err := readBytes(ok, "ok.pth"); err != nil || len(sd.Tensors["w"].Data) != 6 {
		t.Fatalf("valid legacy file: %v %v", sd, err)
	}
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"bad magic", append([]byte("\x80\x02\x8a\x01\x05."), ok[20:]...), "bad magic number"},
		{"count mismatch", legacyFile(legacyTensorPickle(6, "N"), keys0, storage(5, floats(6))), "the file says 5 elements, the pickle 6"},
		{"truncated storage", legacyFile(legacyTensorPickle(6, "N"), keys0, storage(6, floats(5))), "truncated file (24 bytes needed"},
		{"truncated header", ok[:len(ok)-30], "truncated"},
		{"unknown key", legacyFile(legacyTensorPickle(6, "N"), []byte("\x80\x02]X\x01\x00\x00\x001a."), storage(6, floats(6))), `storage "1": listed but not used`},
		{"no keys", legacyFile(legacyTensorPickle(6, "N"), []byte("\x80\x02]."), storage(6, floats(6))), "0 keys for 1 storages"},
		{"view", legacyFile(legacyTensorPickle(6, "(X\x01\x00\x00\x00vK\x00K\x06t"), keys0, storage(6, floats(6))), "legacy storage views are not supported"},
		{"absurd numel", legacyFile(legacyTensorPickle(1e12, "N"), keys0, storage(1e12, floats(6))), "exceed the file size"},
		{"big endian", bytes.Replace(ok, []byte("little_endianq\x01\x88"), []byte("little_endianq\x01\x89"), 1), "big-endian"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, tc.file, tc.want)
		})
	}
}

// TestTruncatedEverywhere cuts small fixtures at many lengths: every cut
// must fail cleanly, never panic.
func TestTruncatedEverywhere(t *testing.T) {
	for _, name := range []string{"tiny.pth", "tiny_legacy.pth", "special.pth", "qckpt/tiny.pth", "rnn/tiny_gru_tied.pt"} {
		b, err := os.ReadFile(filepath.Join(fixtures, name))
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < len(b); n++ {
			if _, err := readBytes(b[:n], name); err == nil {
				// A zip's central directory may be intact only at the
				// very end; a legacy file may carry trailing bytes.
				if n < len(b)-8 {
					t.Errorf("%s cut to %d of %d bytes loaded", name, n, len(b))
				}
			}
		}
	}
}
