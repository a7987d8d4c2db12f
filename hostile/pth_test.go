package hostile

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"strings"
	"testing"
)

func floats(n int) []byte { return make([]byte, 4*n) }

// TestDtypes renames the storage class of every tensor of deep.pth.
func TestDtypes(t *testing.T) {
	deep := read(t, "deep.pth")
	// Untouched but rewritten by Go's zip writer: must still load.
	r := lstmq(t, "inspect", "--model", put(t, "dtype/rezipped.pth", rezip(t, deep, func(_ string, d []byte) []byte { return d })))
	wantOK(t, r)
	for _, class := range []string{"IntStorage", "LongStorage", "HalfStorage", "DoubleStorage", "ByteStorage", "BoolStorage", "QInt8Storage", "EvilStorage"} {
		t.Run(class, func(t *testing.T) {
			b := rezip(t, deep, func(name string, d []byte) []byte {
				if strings.HasSuffix(name, "data.pkl") {
					return bytes.ReplaceAll(d, []byte("torch\nFloatStorage\n"), []byte("torch\n"+class+"\n"))
				}
				return d
			})
			name := put(t, "dtype/"+class+".pth", b)
			r := lstmq(t, "inspect", "--model", name)
			wantFail(t, r, name)
			record(t, "dtype", "zip .pth whose storages are torch."+class, r)
		})
	}
}

// TestTorchVariants runs checkpoints torch.save wrote in ways it does not
// by default (testdata/torch/gen_variants.py): pickle protocols 0 and 1, a
// training checkpoint holding the state dict, and a re-zipped file with
// compressed entries.
func TestTorchVariants(t *testing.T) {
	for _, c := range []struct {
		file, what string
		ok         bool
	}{
		{"tied_p1.pth", "zip .pth pickled with protocol 1", true},
		{"tied_legacy_p1.pth", "legacy .pth pickled with protocol 1", true},
		{"tied_p0.pth", "zip .pth pickled with protocol 0 (torch.load fails on it too)", false},
		{"tied_wrapped.pth", `a training checkpoint {"model": state_dict, "epoch": 3}`, false},
		{"tied_deflate.pth", "a .pth re-zipped with deflate (torch.load reads it)", false},
	} {
		t.Run(c.file, func(t *testing.T) {
			r := lstmq(t, "inspect", "--model", c.file)
			if c.ok {
				wantOK(t, r)
			} else {
				wantFail(t, r, c.file)
			}
			record(t, "torch variants", c.what, r)
		})
	}
}

// TestCraftedPth runs pickles written here: absurd shapes, dangerous
// globals, bombs.
func TestCraftedPth(t *testing.T) {
	six := floats(6)
	one := func(pkl []byte, data ...[]byte) []byte {
		e := []entry{{name: "data.pkl", data: pkl}}
		for i, d := range data {
			e = append(e, entry{name: fmt.Sprintf("data/%d", i), data: d})
		}
		e = append(e, entry{name: "version", data: []byte("3\n")})
		return pthZip(t, e...)
	}
	type tc struct {
		name, what string
		file       []byte
	}
	tests := []tc{
		{"shape_overflow", "shape 2^62 × 4 (the element count overflows int64)",
			one(tensorPickle("FloatStorage", 6, []int64{1 << 62, 4}, []int64{4, 1}), six)},
		{"shape_overflow3", "shape 2^31 × 2^31 × 4",
			one(tensorPickle("FloatStorage", 6, []int64{1 << 31, 1 << 31, 4}, []int64{1 << 33, 4, 1}), six)},
		{"negative_shape", "shape -1 × 6", one(tensorPickle("FloatStorage", 6, []int64{-1, 6}, []int64{6, 1}), six)},
		{"negative_stride", "stride -1", one(tensorPickle("FloatStorage", 6, []int64{6}, []int64{-1}), six)},
		{"claims_1e12", "1 KB zip .pth claiming 10^12 elements",
			one(tensorPickle("FloatStorage", 1e12, []int64{1e6, 1e6}, []int64{1e6, 1}), floats(200))},
		{"broadcast", "shape 2^33 with stride 0 over one element",
			one(tensorPickle("FloatStorage", 1, []int64{1 << 33}, []int64{0}), floats(1))},
		{"short_storage", "storage shorter than the pickle says",
			one(tensorPickle("FloatStorage", 6, []int64{6}, []int64{1}), floats(5))},
		{"missing_storage", "storage entry missing", one(tensorPickle("FloatStorage", 6, []int64{6}, []int64{1}))},
	}
	for _, g := range []struct{ module, name string }{
		{"posix", "system"}, {"nt", "system"}, {"os", "system"}, {"builtins", "eval"}, {"builtins", "exec"},
		{"subprocess", "Popen"}, {"__builtin__", "eval"}, {"torch", "load"}, {"collections", "OrderedDict.__new__"},
	} {
		for _, stack := range []bool{false, true} {
			var p pickler
			op := "GLOBAL"
			if stack {
				op = "STACK_GLOBAL"
				p.proto(4)
			} else {
				p.proto(2)
			}
			// A state dict whose one value is module.name("touch pwned").
			p.orderedDict()
			p.unicode("encoder.weight")
			if stack {
				p.stackGlobal(g.module, g.name)
			} else {
				p.global(g.module, g.name)
			}
			p.unicode("touch pwned")
			p.op(0x85, reduce, setItems, stop) // TUPLE1
			tests = append(tests, tc{fmt.Sprintf("%s_%s_%s", g.module, g.name, op), fmt.Sprintf("pickle calling %s.%s via %s", g.module, g.name, op), one(p.b)})
		}
	}
	// Deep nesting: a value of lists inside lists a million deep, and of
	// one-tuples a million deep.
	{
		var p pickler
		p.proto(2)
		p.orderedDict()
		p.unicode("encoder.weight")
		p.b = append(p.b, bytes.Repeat([]byte("]"), 1e6)...)
		p.b = append(p.b, bytes.Repeat([]byte("a"), 1e6-1)...)
		p.op(setItems, stop)
		tests = append(tests, tc{"nested_lists", "lists nested 10^6 deep", one(p.b)})
		var q pickler
		q.proto(2)
		q.orderedDict()
		q.unicode("encoder.weight")
		q.op('N')
		q.b = append(q.b, bytes.Repeat([]byte{0x85}, 1e6)...)
		q.op(setItems, stop)
		tests = append(tests, tc{"nested_tuples", "one-tuples nested 10^6 deep", one(q.b)})
		// Memo: LONG_BINPUT at index 2^32-1, LONG_BINGET of a missing
		// index, and a million DUPs.
		var mp pickler
		mp.proto(2)
		mp.orderedDict()
		mp.unicode("encoder.weight")
		mp.op('N', 'r', 0xff, 0xff, 0xff, 0xff, setItems, stop)
		tests = append(tests, tc{"memo_put_2_32", "LONG_BINPUT at memo index 2^32-1", one(mp.b)})
		var mg pickler
		mg.proto(2)
		mg.orderedDict()
		mg.unicode("encoder.weight")
		mg.op('j', 0xfe, 0xff, 0xff, 0xff, setItems, stop)
		tests = append(tests, tc{"memo_get_missing", "LONG_BINGET of a memo index never put", one(mg.b)})
		var dp pickler
		dp.proto(2)
		dp.orderedDict()
		dp.unicode("encoder.weight")
		dp.op(mark, 'N')
		dp.b = append(dp.b, bytes.Repeat([]byte("2"), 1e6)...)
		dp.op(tuple, setItems, stop)
		tests = append(tests, tc{"dup_storm", "10^6 DUPs into one tuple", one(dp.b)})
		var m pickler
		m.proto(2)
		m.b = append(m.b, bytes.Repeat([]byte("("), 1e6)...)
		tests = append(tests, tc{"nested_marks", "10^6 nested MARKs", one(m.b)})
	}
	// Zip bombs: a data.pkl that inflates to 256 MB of zeros (honest
	// sizes), one whose header claims 1 TB, a storage claiming 1 TB.
	var z bytes.Buffer
	fw, _ := flate.NewWriter(&z, flate.BestCompression)
	io.CopyN(fw, zeros{}, 256<<20)
	fw.Close()
	tests = append(tests,
		tc{"zip_bomb", fmt.Sprintf("zip bomb: data.pkl of %d KB inflating to 256 MB", z.Len()>>10),
			pthZip(t, entry{name: "data.pkl", data: z.Bytes(), method: zip.Deflate, claimed: 256 << 20})},
		tc{"zip_claims_1tb", "zip entry claiming 1 TB",
			pthZip(t, entry{name: "data.pkl", data: z.Bytes()[:1000], method: zip.Deflate, claimed: 1 << 40})},
		tc{"storage_bomb", "deflated storage claiming 4 GB",
			pthZip(t, entry{name: "data.pkl", data: tensorPickle("FloatStorage", 1<<30, []int64{1 << 30}, []int64{1})},
				entry{name: "data/0", data: z.Bytes(), method: zip.Deflate, claimed: 4 << 30})},
		tc{"zip_in_zip", "a zip inside a zip", pthZip(t, entry{name: "data.pkl", data: read(t, "deep.pth")})},
		tc{"not_pickle", "data.pkl of random text", one([]byte("hello, world\n"))},
	)
	for _, c := range tests {
		t.Run(c.name, func(t *testing.T) {
			name := put(t, "crafted/"+c.name+".pth", c.file)
			r := lstmq(t, "inspect", "--model", name)
			wantFail(t, r, name)
			record(t, "crafted", c.what, r)
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
