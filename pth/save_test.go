package pth

import (
	"archive/zip"
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// saveDir, when set, makes TestSave leave deep_go.pth and tied_go.pth there
// for testdata/torch/check_save.py to load with PyTorch.
var saveDir = flag.String("pth.savedir", "", "write Go-saved checkpoints to this folder for check_save.py")

func TestSave(t *testing.T) {
	for _, name := range []string{"deep.pth", "tied.pth", "deep_noncontig.pth", "deep_f16.pth", "tiny_legacy.pth"} {
		t.Run(name, func(t *testing.T) {
			src := loadFixture(t, name)
			dir := t.TempDir()
			if *saveDir != "" && (name == "deep.pth" || name == "tied.pth") {
				dir = *saveDir
			}
			path := filepath.Join(dir, strings.TrimSuffix(name, ".pth")+"_go.pth")
			if err := Save(path, src.Keys, src.Tensors); err != nil {
				t.Fatal(err)
			}
			got, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Keys, src.Keys) {
				t.Fatalf("keys %v, saved %v", got.Keys, src.Keys)
			}
			storages := map[string]bool{}
			for _, k := range src.Keys {
				g, s := got.Tensors[k], src.Tensors[k]
				if !slices.Equal(g.Shape, s.Shape) || !slices.Equal(g.Data, s.Data) || g.DType != "float32" {
					t.Errorf("%s: %v %s does not round-trip", k, g.Shape, g.DType)
				}
				storages[g.Storage] = true
			}
			// Tied keys (same storage, same tensor) are written once.
			if name == "tied.pth" {
				if got.Tensors["encoder.weight"].Storage != got.Tensors["decoder.weight"].Storage {
					t.Error("decoder.weight no longer tied to encoder.weight")
				}
				if len(storages) != len(src.Keys)-1 {
					t.Errorf("%d storages for %d keys, one pair tied", len(storages), len(src.Keys))
				}
			}
			checkLayout(t, path, strings.TrimSuffix(name, ".pth")+"_go", len(storages))
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.Contains(e.Name(), ".tmp") {
					t.Errorf("temporary file %s left behind", e.Name())
				}
			}
		})
	}
}

// checkLayout checks the archive the way PyTorch 1.13 writes it: stored
// entries whose data start at multiples of 64 bytes, in a folder named
// after the file: data.pkl, the storages in string order, version.
func checkLayout(t *testing.T, path, folder string, storages int) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		off, err := f.DataOffset()
		if err != nil {
			t.Fatal(err)
		}
		if off%64 != 0 || f.Method != zip.Store {
			t.Errorf("%s: data at offset %d, method %d; want 64-byte aligned, stored", f.Name, off, f.Method)
		}
	}
	var keys []string
	for i := 0; i < storages; i++ {
		keys = append(keys, strconv.Itoa(i))
	}
	slices.Sort(keys) // "0", "1", "10", "11", …, "2", …
	want := []string{folder + "/data.pkl"}
	for _, k := range keys {
		want = append(want, folder+"/data/"+k)
	}
	want = append(want, folder+"/version")
	if !slices.Equal(names, want) {
		t.Errorf("entries %v, want %v", names, want)
	}
}

// TestSaveMatchesTorch checks SaveWith's output byte for byte against what
// PyTorch 1.13 writes (testdata/torch/gen_save_ref.py): the state dicts of
// the tutorial's LSTMModel holding deep.pth's and tied.pth's weights, with
// their _metadata; a plain OrderedDict with a second key viewing a storage,
// a scalar, empty tensors, a 4-d tensor and sizes past 2^16; and 1001 keys
// on two storages (SETITEMS batches, memo slots past 255) with a one-entry
// _metadata. Each is saved to a file of the same name, which names the
// archive's folder.
func TestSaveMatchesTorch(t *testing.T) {
	for _, tc := range []struct {
		name string
		meta []ModuleVersion
	}{
		{"deep.pth", LSTMModelMetadata()},
		{"tied.pth", LSTMModelMetadata()},
		{"plain.pth", nil},
		{"many.pth", []ModuleVersion{{"", 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := filepath.Join(fixtures, "save_ref", tc.name)
			want, err := os.ReadFile(ref)
			if err != nil {
				t.Fatal(err)
			}
			src, err := Load(ref)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), tc.name)
			if !slices.Equal(src.Metadata, tc.meta) {
				t.Errorf("Load: metadata %v, want %v", src.Metadata, tc.meta)
			}
			if err := SaveWith(path, src.Keys, src.Tensors, SaveOptions{Metadata: tc.meta}); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				i := 0
				for i < min(len(got), len(want)) && got[i] == want[i] {
					i++
				}
				t.Fatalf("%d bytes, torch wrote %d; first difference at offset %d:\n got % x\nwant % x",
					len(got), len(want), i, got[i:min(i+32, len(got))], want[i:min(i+32, len(want))])
			}
		})
	}
}

// TestSaveSize checks the size formula the tutorial's print_size_of_model
// measures against PyTorch 1.13's file for the tutorial's LSTMModel
// (Embedding(33278, 512), LSTM(512, 256, 5), Linear(256, 33278)) saved to
// temp.p: 113943637 bytes (gen_save_ref.py --size). The weights do not
// change the size, so the tensors are zeros, and the file is written to a
// counting writer, not to disk.
func TestSaveSize(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 114 MB")
	}
	const ntoken, ninp, nhid, nlayers = 33278, 512, 256, 5
	var keys []string
	ts := map[string]*Tensor{}
	add := func(key string, shape ...int) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		keys = append(keys, key)
		ts[key] = &Tensor{Shape: shape, Data: make([]float32, n)}
	}
	add("encoder.weight", ntoken, ninp)
	for l := 0; l < nlayers; l++ {
		in := nhid
		if l == 0 {
			in = ninp
		}
		add("rnn.weight_ih_l"+strconv.Itoa(l), 4*nhid, in)
		add("rnn.weight_hh_l"+strconv.Itoa(l), 4*nhid, nhid)
		add("rnn.bias_ih_l"+strconv.Itoa(l), 4*nhid)
		add("rnn.bias_hh_l"+strconv.Itoa(l), 4*nhid)
	}
	add("decoder.weight", ntoken, nhid)
	add("decoder.bias", ntoken)
	enc, err := newEncoder(keys, ts, SaveOptions{Metadata: LSTMModelMetadata()})
	if err != nil {
		t.Fatal(err)
	}
	var n countWriter
	if err := enc.write(&n, archiveName("temp.p")); err != nil {
		t.Fatal(err)
	}
	if n != 113943637 {
		t.Errorf("temp.p: %d bytes, PyTorch 1.13 writes 113943637", n)
	}
}

type countWriter int64

func (c *countWriter) Write(b []byte) (int, error) {
	*c += countWriter(len(b))
	return len(b), nil
}

func TestArchiveName(t *testing.T) {
	// PyTorch's basename(): after the last '/' or '\', before the last '.'.
	for path, want := range map[string]string{
		"temp.p":         "temp",
		"dir/deep.pth":   "deep",
		"a.b.pth":        "a.b",
		"model":          "model",
		`C:\models\m.pt`: "m",
		"dir.d/model":    "model",
		"x/.pth":         "archive",
		"dir/":           "archive",
		"":               "archive",
		"dir/résumé.pth": "résumé",
	} {
		if got := archiveName(path); got != want {
			t.Errorf("archiveName(%q) = %q, want %q", path, got, want)
		}
	}
}

// TestPickleInt checks int against what CPython's pickle.dumps(v, 2)
// writes between PROTO and STOP.
func TestPickleInt(t *testing.T) {
	for _, tc := range []struct {
		v    int64
		want string
	}{
		{0, "K\x00"},
		{255, "K\xff"},
		{256, "M\x00\x01"},
		{65535, "M\xff\xff"},
		{65536, "J\x00\x00\x01\x00"},
		{-1, "J\xff\xff\xff\xff"},
		{1<<31 - 1, "J\xff\xff\xff\x7f"},
		{-1 << 31, "J\x00\x00\x00\x80"},
		{1 << 31, "\x8a\x05\x00\x00\x00\x80\x00"},
		{1<<32 - 1, "\x8a\x05\xff\xff\xff\xff\x00"},
		{1 << 40, "\x8a\x06\x00\x00\x00\x00\x00\x01"},
		{-1<<31 - 1, "\x8a\x05\xff\xff\xff\x7f\xff"},
		{-1 << 39, "\x8a\x05\x00\x00\x00\x00\x80"},
		{1<<63 - 1, "\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f"},
		{-1 << 63, "\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80"},
	} {
		var p pickler
		p.int(tc.v)
		if string(p.b) != tc.want {
			t.Errorf("%d: % x, want % x", tc.v, p.b, tc.want)
		}
	}
}

// encodeZip returns the bytes SaveWith writes to a file named name.
func encodeZip(name string, keys []string, tensors map[string]*Tensor, opts SaveOptions) ([]byte, error) {
	enc, err := newEncoder(keys, tensors, opts)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := enc.write(&buf, archiveName(name)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func TestSaveErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.pth")
	w := &Tensor{Shape: []int{2, 3}, Data: make([]float32, 6)}
	tests := []struct {
		keys    []string
		tensors map[string]*Tensor
		want    string
	}{
		{[]string{"w"}, map[string]*Tensor{"w": {Shape: []int{2, 3}, Data: make([]float32, 5)}}, `key "w": shape [2 3] needs 6 elements, Data has 5`},
		{[]string{"v"}, map[string]*Tensor{"w": w}, `key "v": no tensor`},
		{[]string{"w", "w"}, map[string]*Tensor{"w": w}, `key "w" given twice`},
		{[]string{"w"}, map[string]*Tensor{"w": {Shape: []int{-1}}}, "negative size"},
	}
	for _, tc := range tests {
		err := Save(path, tc.keys, tc.tensors)
		if err == nil || !strings.HasPrefix(err.Error(), "save "+path+": ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one starting with save %s: and containing %q", err, path, tc.want)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("failed saves left %s behind", path)
	}
	if err := Save(filepath.Join(dir, "missing", "x.pth"), []string{"w"}, map[string]*Tensor{"w": w}); err == nil {
		t.Error("saved into a missing folder")
	}
	// A scalar and an empty tensor round-trip.
	ts := map[string]*Tensor{"s": {Shape: []int{}, Data: []float32{3}}, "e": {Shape: []int{0, 4}, Data: []float32{}}}
	if err := Save(path, []string{"s", "e"}, ts); err != nil {
		t.Fatal(err)
	}
	sd, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if s, e := sd.Tensors["s"], sd.Tensors["e"]; len(s.Shape) != 0 || s.Data[0] != 3 || !slices.Equal(e.Shape, []int{0, 4}) || len(e.Data) != 0 {
		t.Errorf("scalar %+v, empty %+v", s, e)
	}
}

// TestSaveLegacyMatchesTorch checks SaveWith's legacy format byte for byte
// against files PyTorch 1.13 wrote with _use_new_zipfile_serialization=False
// (gen.py): writing back what Load read (keys, tensors, _metadata and the
// storage names, which PyTorch takes from the storages' addresses) gives
// the same bytes, tied storages written once; SizeWith counts them.
func TestSaveLegacyMatchesTorch(t *testing.T) {
	for _, name := range []string{"tied_legacy.pth", "deep_legacy.pth"} {
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(fixtures, name))
			if err != nil {
				t.Fatal(err)
			}
			src := loadFixture(t, name)
			if !src.Legacy {
				t.Fatal("Load: Legacy false for a legacy file")
			}
			opts := SaveOptions{Metadata: src.Metadata, Legacy: true}
			path := filepath.Join(t.TempDir(), "other_name.pth") // the name does not matter
			if err := SaveWith(path, src.Keys, src.Tensors, opts); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				i := 0
				for i < min(len(got), len(want)) && got[i] == want[i] {
					i++
				}
				t.Fatalf("%d bytes, torch wrote %d; first difference at offset %d:\n got % x\nwant % x",
					len(got), len(want), i, got[i:min(i+32, len(got))], want[i:min(i+32, len(want))])
			}
			if n, err := SizeWith(path, src.Keys, src.Tensors, opts); err != nil || n != int64(len(want)) {
				t.Errorf("SizeWith: %d, %v; want %d", n, err, len(want))
			}
		})
	}
}

// TestSaveLegacyRoundTrip checks what no fixture has: storages with no
// name (numbered), a name two storages give (the second numbered), one
// storage (its key list pickled with APPEND) and more than 1000 (APPENDS
// batches, memo slots past 255), each read back by Load.
func TestSaveLegacyRoundTrip(t *testing.T) {
	for _, n := range []int{1, 2, 1001} {
		var keys []string
		ts := map[string]*Tensor{}
		for i := range n {
			k := "k" + strconv.Itoa(i)
			storage := ""
			if i%3 == 1 {
				storage = "shared" // same name, different data: not tied
			}
			keys = append(keys, k)
			ts[k] = &Tensor{Shape: []int{2}, Data: []float32{float32(i), -float32(i)}, Storage: storage}
		}
		path := filepath.Join(t.TempDir(), "x.pth")
		if err := SaveWith(path, keys, ts, SaveOptions{Legacy: true}); err != nil {
			t.Fatal(err)
		}
		got, err := Load(path)
		if err != nil {
			t.Fatalf("%d keys: %v", n, err)
		}
		if !got.Legacy || !slices.Equal(got.Keys, keys) {
			t.Fatalf("%d keys: legacy %v, keys %v", n, got.Legacy, got.Keys[:min(3, len(got.Keys))])
		}
		storages := map[string]bool{}
		for _, k := range keys {
			if !slices.Equal(got.Tensors[k].Data, ts[k].Data) {
				t.Fatalf("%d keys: %s = %v, saved %v", n, k, got.Tensors[k].Data, ts[k].Data)
			}
			storages[got.Tensors[k].Storage] = true
		}
		if len(storages) != n {
			t.Errorf("%d keys: %d storages", n, len(storages))
		}
		if size, err := SizeWith(path, keys, ts, SaveOptions{Legacy: true}); err != nil || size != fileSize(t, path) {
			t.Errorf("%d keys: SizeWith %d, %v; the file has %d bytes", n, size, err, fileSize(t, path))
		}
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
