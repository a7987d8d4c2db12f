package pth

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var qckpt = filepath.Join(fixtures, "qckpt")

// qweight is a quantized weight as testdata/torch/gen_qckpt.py records it
// from PyTorch: int_repr(), q_scale() or q_per_channel_scales(), ….
type qweight struct {
	Shape      []int
	QScheme    string
	Int8       []int8
	Scales     []float64
	ZeroPoints []int64 `json:"zero_points"`
	Axis       int
}

// qfixture is qckpt/qckpt.json.
type qfixture struct {
	NToken, NInp, NHid, NLayers int
	Files                       map[string]struct {
		Engine, Weights string
		Loss            float64
		ActQMax         int32 `json:"act_qmax"`
	}
	Weights map[string]map[string]qweight
}

func readQFixture(t testing.TB) *qfixture {
	b, err := os.ReadFile(filepath.Join(qckpt, "qckpt.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f qfixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Files) == 0 || len(f.Weights) == 0 {
		t.Fatal("qckpt.json has no files or weights")
	}
	return &f
}

// TestQuantizedFixtures reads the state dicts of quantize_dynamic'd models
// that PyTorch wrote and compares what they hold with what PyTorch says:
// the int8 values and qparams of every weight, and the float tensors with
// the float32 model's.
func TestQuantizedFixtures(t *testing.T) {
	f := readQFixture(t)
	fp, err := Load(filepath.Join(qckpt, "fp32.pth"))
	if err != nil {
		t.Fatal(err)
	}
	if fp.Quantized() || fp.Values != nil {
		t.Error("fp32.pth reported quantized")
	}
	for name, file := range f.Files {
		t.Run(name, func(t *testing.T) {
			sd, err := Load(filepath.Join(qckpt, name))
			if err != nil {
				t.Fatal(err)
			}
			if !sd.Quantized() {
				t.Error("not reported quantized")
			}
			var keys []string
			keys = append(keys, "encoder.weight")
			for k := range f.NLayers {
				keys = append(keys, fmt.Sprintf("rnn._all_weight_values.%d.param", k))
			}
			keys = append(keys, "decoder.scale", "decoder.zero_point", "decoder._packed_params.dtype", "decoder._packed_params._packed_params")
			if !slices.Equal(sd.Keys, keys) {
				t.Fatalf("keys %q, want %q", sd.Keys, keys)
			}
			if len(sd.Tensors)+len(sd.Values) != len(sd.Keys) {
				t.Errorf("%d tensors and %d values for %d keys", len(sd.Tensors), len(sd.Values), len(sd.Keys))
			}
			sameFloats(t, "encoder.weight", sd.Tensors["encoder.weight"], fp.Tensors["encoder.weight"].Data)
			if s := sd.Tensors["decoder.scale"]; s.DType != "float32" || len(s.Shape) != 0 || !slices.Equal(s.Data, []float32{1}) {
				t.Errorf("decoder.scale = %+v, want tensor(1.)", s)
			}
			if z := sd.Tensors["decoder.zero_point"]; z.DType != "int64" || len(z.Shape) != 0 || !slices.Equal(z.Int64, []int64{0}) || z.Data != nil {
				t.Errorf("decoder.zero_point = %+v, want tensor(0)", z)
			}
			if v := sd.Values["decoder._packed_params.dtype"]; v == nil || v.DType != "qint8" {
				t.Errorf("decoder._packed_params.dtype = %+v, want qint8", v)
			}
			want := f.Weights[file.Weights]
			dec := sd.Values["decoder._packed_params._packed_params"]
			if dec == nil || len(dec.Tuple) != 2 || dec.Tuple[0] == nil || dec.Tuple[1] == nil {
				t.Fatalf("decoder packed params %+v, want (weight, bias)", dec)
			}
			sameQWeight(t, "decoder.weight", dec.Tuple[0], want["decoder.weight"])
			sameFloats(t, "decoder.bias", dec.Tuple[1], fp.Tensors["decoder.bias"].Data)
			for k := range f.NLayers {
				v := sd.Values[fmt.Sprintf("rnn._all_weight_values.%d.param", k)]
				if v == nil || v.Packed == nil {
					t.Fatalf("layer %d: %+v, want packed params", k, v)
				}
				c := v.Packed
				if c.Class != CellParams || c.Kind != "quantized_dynamic" || len(c.Doubles) != 0 ||
					!slices.Equal(c.Longs, []int64{1}) || len(c.Tensors) != 2 || len(c.Packed) != 2 {
					t.Fatalf("layer %d: %s %q, %d tensors, doubles %v, longs %v, %d packed; want %s \"quantized_dynamic\", 2, [], [1], 2",
						k, c.Class, c.Kind, len(c.Tensors), c.Doubles, c.Longs, len(c.Packed), CellParams)
				}
				for i, w := range []string{"ih", "hh"} {
					p := c.Packed[i]
					if p.Class != LinearPackedParams || len(p.Tensors) != 2 || p.Tensors[1] == nil {
						t.Fatalf("layer %d: W_%s packed as %s with %d tensors", k, w, p.Class, len(p.Tensors))
					}
					name := fmt.Sprintf("rnn.weight_%s_l%d", w, k)
					sameQWeight(t, name, p.Tensors[0], want[name])
					bias := fp.Tensors[fmt.Sprintf("rnn.bias_%s_l%d", w, k)].Data
					sameFloats(t, name+" packed bias", p.Tensors[1], bias)
					sameFloats(t, name+" cell bias", c.Tensors[i], bias)
				}
			}
		})
	}
}

func sameFloats(t *testing.T, name string, got *Tensor, want []float32) {
	t.Helper()
	if got == nil || got.DType != "float32" || !sameBits(got.Data, want) {
		t.Errorf("%s differs from the float32 model's", name)
	}
}

func sameQWeight(t *testing.T, name string, got *Tensor, want qweight) {
	t.Helper()
	if len(want.Int8) == 0 {
		t.Fatalf("%s: no PyTorch reference", name)
	}
	if got.DType != "qint8" || got.QScheme != want.QScheme || !slices.Equal(got.Shape, want.Shape) || got.Axis != want.Axis {
		t.Errorf("%s: %s %s %v axis %d, PyTorch %s %v axis %d", name, got.DType, got.QScheme, got.Shape, got.Axis,
			want.QScheme, want.Shape, want.Axis)
	}
	if !slices.Equal(got.Int8, want.Int8) {
		t.Errorf("%s: int8 values differ from int_repr()", name)
	}
	if !slices.Equal(got.Scales, want.Scales) || !slices.Equal(got.ZeroPoints, want.ZeroPoints) {
		t.Errorf("%s: scales %v, zero points %v; PyTorch %v, %v", name, got.Scales, got.ZeroPoints, want.Scales, want.ZeroPoints)
	}
	if got.Data != nil || got.Int64 != nil {
		t.Errorf("%s: a quantized tensor with Data or Int64", name)
	}
}

// TestQuantizedGenPy reads gen.py's quantized.pth (qnnpack, 2 layers).
func TestQuantizedGenPy(t *testing.T) {
	sd, err := Load(filepath.Join(fixtures, "quantized.pth"))
	if err != nil {
		t.Fatal(err)
	}
	c := sd.Values["rnn._all_weight_values.1.param"].Packed
	w := c.Packed[1].Tensors[0]
	// pickletools shows the scale of W_hh_l1 (storage "11"); its int8
	// values are checked against PyTorch by TestQuantizedFixtures.
	if !sd.Quantized() || !slices.Equal(w.Shape, []int{32, 8}) || w.Storage != "11" || w.Scales[0] != 0.002753197681158781 {
		t.Errorf("W_hh_l1: %v storage %q scales %v", w.Shape, w.Storage, w.Scales)
	}
}

// rezip rewrites the entries of a zip file through edit and archives them
// again (stored, fresh CRCs).
func rezip(t *testing.T, path string, edit func(name string, b []byte) []byte) []byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var entries []entry
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, entry{name: f.Name, data: edit(f.Name, b)})
	}
	return makeZip(t, entries...)
}

// TestQuantizedHostile edits PyTorch's quantized files: every change the
// reader cannot stand behind fails with a one-line error naming the file.
func TestQuantizedHostile(t *testing.T) {
	tiny := filepath.Join(qckpt, "tiny.pth")
	channel := filepath.Join(qckpt, "tiny_channel.pth")
	ok := rezip(t, tiny, func(_ string, b []byte) []byte { return b })
	if _, err := readBytes(ok, "ok.pth"); err != nil {
		t.Fatalf("tiny.pth zipped again: %v", err)
	}
	inPickle := func(path, old, new string) []byte {
		return rezip(t, path, func(name string, b []byte) []byte {
			if !strings.HasSuffix(name, "/data.pkl") {
				return b
			}
			if !bytes.Contains(b, []byte(old)) {
				t.Fatalf("%s has no %q", name, old)
			}
			return bytes.Replace(b, []byte(old), []byte(new), 1)
		})
	}
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"unknown class", inPickle(tiny, "LinearPackedParamsBase", "LinearPackedParamsBasX"),
			"refusing to load torch.ScriptObject of class __torch__.torch.classes.quantized.LinearPackedParamsBasX"},
		{"quint8 storage", inPickle(tiny, "QInt8Storage", "QUInt8Storage"), "beyond quantize_dynamic's qint8 weights (found global torch.QUInt8Storage)"},
		{"other global", inPickle(tiny, "ctorch\nScriptObject\n", "cposix\nsystem\n"), "refusing to load global posix.system"},
		{"per_tensor_symmetric", inPickle(tiny, "per_tensor_affine", "per_tensor_symmetric"), "(found global torch.per_tensor_symmetric)"},
		{"qscheme swapped", inPickle(tiny, "per_tensor_affine", "per_channel_affine"),
			"per_channel_affine with 3 quantizer params, want (qscheme, scales, zero_points, axis)"},
		{"short storage", rezip(t, tiny, func(name string, b []byte) []byte {
			if strings.HasSuffix(name, "/data/3") {
				return b[:len(b)-1]
			}
			return b
		}), `storage "3": tiny/data/3 holds`},
		{"scales as float32", inPickle(channel, "DoubleStorage", "FloatStorage"), `key "rnn._all_weight_values.0.param": storage "4": tiny_channel/data/4 holds 64 bytes, the pickle says 8×4`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, tc.file, tc.want)
		})
	}
}

// qtensorPickle is a state dict {"w": _rebuild_qtensor(('storage',
// torch.<class>, "0", 'cpu', 6), 0, (2, 3), (3, 1), qparams, False,
// OrderedDict())}, qparams written by qp.
func qtensorPickle(class string, qp func(p *pickler)) []byte {
	var p pickler
	p.proto(2)
	p.global("collections", "OrderedDict")
	p.op(opEmptyTuple, opReduce, opMark)
	p.unicode("w")
	p.global("torch._utils", "_rebuild_qtensor")
	p.op(opMark, opMark)
	p.unicode("storage")
	p.global("torch", class)
	p.unicode("0")
	p.unicode("cpu")
	p.int(6)
	p.op(opTuple, opBinPersID)
	p.int(0)
	p.intTuple([]int64{2, 3})
	p.intTuple([]int64{3, 1})
	p.op(opMark)
	qp(&p)
	p.op(opTuple, opNewFalse)
	p.global("collections", "OrderedDict")
	p.op(opEmptyTuple, opReduce, opTuple, opReduce, opSetItems, opStop)
	return p.b
}

// vectorPickle writes _rebuild_tensor_v2(('storage', torch.<class>, key,
// 'cpu', n), 0, (n,), (1,), False, OrderedDict()).
func vectorPickle(p *pickler, class, key string, n int64) {
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.op(opMark, opMark)
	p.unicode("storage")
	p.global("torch", class)
	p.unicode(key)
	p.unicode("cpu")
	p.int(n)
	p.op(opTuple, opBinPersID)
	p.int(0)
	p.intTuple([]int64{n})
	p.intTuple([]int64{1})
	p.op(opNewFalse)
	p.global("collections", "OrderedDict")
	p.op(opEmptyTuple, opReduce, opTuple, opReduce)
}

func binFloat(p *pickler, f float64) {
	p.op('G')
	p.b = binary.BigEndian.AppendUint64(p.b, math.Float64bits(f))
}

func TestQuantizedTensor(t *testing.T) {
	int8s := entry{name: "archive/data/0", data: []byte{1, 2, 3, 0xff, 0x80, 0x7f}}
	perTensor := func(scale float64, zp int64) func(*pickler) {
		return func(p *pickler) {
			p.global("torch", "per_tensor_affine")
			binFloat(p, scale)
			p.int(zp)
		}
	}
	perChannel := func(scaleClass string, scales, zps int64, axis int64) func(*pickler) {
		return func(p *pickler) {
			p.global("torch", "per_channel_affine")
			vectorPickle(p, scaleClass, "1", scales)
			vectorPickle(p, "LongStorage", "2", zps)
			p.int(axis)
		}
	}
	f64 := func(v ...float64) entry {
		var b []byte
		for _, x := range v {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		}
		return entry{name: "archive/data/1", data: b}
	}
	i64 := func(key string, v ...int64) entry {
		var b []byte
		for _, x := range v {
			b = binary.LittleEndian.AppendUint64(b, uint64(x))
		}
		return entry{name: "archive/data/" + key, data: b}
	}
	pkl := func(b []byte) entry { return entry{name: "archive/data.pkl", data: b} }

	sd, err := readBytes(makeZip(t, pkl(qtensorPickle("QInt8Storage", perTensor(0.5, -3))), int8s), "q.pth")
	if err != nil {
		t.Fatal(err)
	}
	w := sd.Tensors["w"]
	if !slices.Equal(w.Int8, []int8{1, 2, 3, -1, -128, 127}) || !slices.Equal(w.Scales, []float64{0.5}) ||
		!slices.Equal(w.ZeroPoints, []int64{-3}) || w.QScheme != "per_tensor_affine" || !sd.Quantized() {
		t.Errorf("per tensor: %+v", w)
	}
	sd, err = readBytes(makeZip(t, pkl(qtensorPickle("QInt8Storage", perChannel("DoubleStorage", 3, 3, 1))), int8s,
		f64(0.25, 1e-300, 3), i64("2", 0, 1, -1)), "q.pth")
	if err != nil {
		t.Fatal(err)
	}
	w = sd.Tensors["w"]
	if !slices.Equal(w.Scales, []float64{0.25, 1e-300, 3}) || !slices.Equal(w.ZeroPoints, []int64{0, 1, -1}) || w.Axis != 1 {
		t.Errorf("per channel: %+v", w)
	}

	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"zero point", makeZip(t, pkl(qtensorPickle("QInt8Storage", perTensor(0.5, 128))), int8s),
			`key "w": zero point 128 out of the range of qint8`},
		{"nan scale", makeZip(t, pkl(qtensorPickle("QInt8Storage", perTensor(math.NaN(), 0))), int8s), `key "w": scale NaN`},
		{"float storage", makeZip(t, pkl(qtensorPickle("FloatStorage", perTensor(0.5, 0))), entry{name: "archive/data/0", data: floats(6)}),
			`key "w": quantized tensor on torch.FloatStorage`},
		{"int scale", makeZip(t, pkl(qtensorPickle("QInt8Storage", func(p *pickler) {
			p.global("torch", "per_tensor_affine")
			p.int(1)
			p.int(0)
		})), int8s), `key "w": scale is int 1`},
		{"no qscheme", makeZip(t, pkl(qtensorPickle("QInt8Storage", func(p *pickler) { p.int(1) })), int8s), `key "w": qscheme is int 1`},
		{"per channel short", makeZip(t, pkl(qtensorPickle("QInt8Storage", perChannel("DoubleStorage", 2, 3, 1))), int8s,
			f64(1, 1), i64("2", 0, 0, 0)), `key "w": scales: shape [2], want [3]`},
		{"per channel axis", makeZip(t, pkl(qtensorPickle("QInt8Storage", perChannel("DoubleStorage", 3, 3, 2))), int8s,
			f64(1, 1, 1), i64("2", 0, 0, 0)), `key "w": axis int 2 for shape [2 3]`},
		{"per channel zero points", makeZip(t, pkl(qtensorPickle("QInt8Storage", perChannel("DoubleStorage", 3, 3, 1))), int8s,
			f64(1, 1, 1), i64("2", 0, 0, -129)), `key "w": zero point -129 out of the range`},
		{"per channel int scales", makeZip(t, pkl(qtensorPickle("QInt8Storage", perChannel("LongStorage", 3, 3, 1))), int8s,
			i64("1", 1, 1, 1), i64("2", 0, 0, 0)), `key "w": scales: torch.LongStorage, want float64`},
		{"short int8 storage", makeZip(t, pkl(qtensorPickle("QInt8Storage", perTensor(0.5, 0))), entry{name: "archive/data/0", data: []byte{1}}),
			`key "w": storage "0": archive/data/0 holds 1 bytes, the pickle says 6×1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, tc.file, tc.want)
		})
	}
}

func TestSaveRefusesQuantized(t *testing.T) {
	sd, err := Load(filepath.Join(qckpt, "tiny.pth"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, k := range []string{"decoder.zero_point"} {
		err := Save(filepath.Join(dir, "x.pth"), []string{k}, sd.Tensors)
		if err == nil || !strings.Contains(err.Error(), "int64 tensors cannot be saved") {
			t.Errorf("%s: error %v", k, err)
		}
	}
	w := sd.Values["decoder._packed_params._packed_params"].Tuple[0]
	err = Save(filepath.Join(dir, "x.pth"), []string{"w"}, map[string]*Tensor{"w": w})
	if err == nil || !strings.Contains(err.Error(), "qint8 tensors cannot be saved") {
		t.Errorf("qint8: error %v", err)
	}
}
