package pth

import (
	"archive/zip"
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
			checkLayout(t, path, len(storages))
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.Contains(e.Name(), ".tmp") {
					t.Errorf("temporary file %s left behind", e.Name())
				}
			}
		})
	}
}

// checkLayout checks the archive the way PyTorch writes it: stored entries
// whose data start at multiples of 64 bytes, in archive/.
func checkLayout(t *testing.T, path string, storages int) {
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
	want := []string{"archive/data.pkl", "archive/byteorder"}
	for i := 0; i < storages; i++ {
		want = append(want, "archive/data/"+strconv.Itoa(i))
	}
	want = append(want, "archive/version")
	if !slices.Equal(names, want) {
		t.Errorf("entries %v, want %v", names, want)
	}
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
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("error %v, want one naming %s and %q", err, path, tc.want)
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
