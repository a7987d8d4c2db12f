package pth

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fixtures is testdata/torch, written by testdata/torch/gen.py.
var fixtures = filepath.Join("..", "testdata", "torch")

// manifest is testdata/torch/tensors.json: what torch says each fixture holds.
type manifest struct {
	Files   map[string]fileManifest
	Special map[string]struct {
		DType string  `json:"dtype"`
		Bits  []int64 `json:"bits"`
	}
	Hostile map[string]string
}

type fileManifest struct {
	Format  string                    `json:"format"`
	Keys    []string                  `json:"keys"`
	Tensors map[string]tensorManifest `json:"tensors"`
	Shared  [][]string                `json:"shared"`
}

type tensorManifest struct {
	Shape         []int        `json:"shape"`
	DType         string       `json:"dtype"`
	Contiguous    bool         `json:"contiguous"`
	StorageOffset int          `json:"storage_offset"`
	Stride        []int        `json:"stride"`
	Sum           float64      `json:"sum"`
	Samples       [][2]float64 `json:"samples"`
}

func readManifest(t testing.TB) *manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, "tensors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	m := &manifest{Files: map[string]fileManifest{}}
	for name, msg := range raw {
		var err error
		switch name {
		case "hostile":
			err = json.Unmarshal(msg, &m.Hostile)
		case "special.pth":
			err = json.Unmarshal(msg, &m.Special)
		default:
			var fm fileManifest
			err = json.Unmarshal(msg, &fm)
			m.Files[name] = fm
		}
		if err != nil {
			t.Fatalf("tensors.json %s: %v", name, err)
		}
	}
	return m
}

func loadFixture(t testing.TB, name string) *StateDict {
	t.Helper()
	sd, err := Load(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return sd
}

// TestFixtures checks every tensor of every fixture against what torch
// recorded: keys in order, shape, dtype, sampled elements exactly, sum, and
// which keys share a storage.
func TestFixtures(t *testing.T) {
	m := readManifest(t)
	if len(m.Files) < 8 {
		t.Fatalf("tensors.json lists only %d fixtures", len(m.Files))
	}
	for name, fm := range m.Files {
		t.Run(name, func(t *testing.T) {
			sd := loadFixture(t, name)
			if !slices.Equal(sd.Keys, fm.Keys) {
				t.Fatalf("keys %v, torch says %v", sd.Keys, fm.Keys)
			}
			for _, k := range fm.Keys {
				want, got := fm.Tensors[k], sd.Tensors[k]
				if !slices.Equal(got.Shape, want.Shape) || got.DType != want.DType {
					t.Errorf("%s: %v %s, torch says %v %s", k, got.Shape, got.DType, want.Shape, want.DType)
					continue
				}
				if got.NumElements() != len(got.Data) {
					t.Errorf("%s: %d elements for shape %v", k, len(got.Data), got.Shape)
					continue
				}
				// Samples are exact: float16, bfloat16 and float32 convert
				// to float32 exactly, and torch's .float() of a float64
				// rounds to nearest like Go's float32().
				for _, s := range want.Samples {
					i := int(s[0])
					if got.Data[i] != float32(s[1]) {
						t.Errorf("%s[%d] = %v, torch says %v", k, i, got.Data[i], float32(s[1]))
					}
				}
				// The sums differ only in summation order (float64 sums of
				// the same values), except for float64 files, whose values
				// we hold rounded to float32: each moves by at most
				// 2^-24 relative.
				var sum, abs float64
				for _, x := range got.Data {
					sum += float64(x)
					abs += math.Abs(float64(x))
				}
				tol := abs * 1e-12
				if want.DType == "float64" {
					tol = abs * 0x1p-24
				}
				if math.Abs(sum-want.Sum) > tol {
					t.Errorf("%s: sum %v, torch says %v (tolerance %g)", k, sum, want.Sum, tol)
				}
			}
			// Storage sharing: keys grouped by torch share a Storage id,
			// and no other keys do.
			group := map[string]int{}
			for i, g := range fm.Shared {
				for _, k := range g {
					group[k] = i + 1
				}
			}
			for _, a := range fm.Keys {
				for _, b := range fm.Keys {
					if a >= b {
						continue
					}
					same := sd.Tensors[a].Storage == sd.Tensors[b].Storage
					if want := group[a] != 0 && group[a] == group[b]; same != want {
						t.Errorf("%s and %s: same storage %v, torch says %v", a, b, same, want)
					}
				}
			}
		})
	}
}

// TestVariants checks that the legacy and strided files hold exactly the
// values of deep.pth, and that tied.pth ties decoder.weight to the encoder.
func TestVariants(t *testing.T) {
	deep := loadFixture(t, "deep.pth")
	for _, name := range []string{"deep_legacy.pth", "deep_noncontig.pth"} {
		sd := loadFixture(t, name)
		for _, k := range deep.Keys {
			if !slices.Equal(sd.Tensors[k].Data, deep.Tensors[k].Data) {
				t.Errorf("%s %s differs from deep.pth", name, k)
			}
		}
	}
	for _, name := range []string{"tied.pth", "tied_legacy.pth"} {
		sd := loadFixture(t, name)
		enc, dec := sd.Tensors["encoder.weight"], sd.Tensors["decoder.weight"]
		if enc.Storage != dec.Storage || !slices.Equal(enc.Data, dec.Data) {
			t.Errorf("%s: decoder.weight is not tied to encoder.weight", name)
		}
	}
}

// TestProtocols checks that tied.pth re-saved with pickle protocol 1, zip
// and legacy, holds the same tied tensors, and that protocol 0, which
// torch.load cannot read, is refused by name (gen_protocols.py).
func TestProtocols(t *testing.T) {
	tied := loadFixture(t, "tied.pth")
	for _, name := range []string{"tied_p1.pth", "tied_legacy_p1.pth"} {
		sd := loadFixture(t, name)
		if !slices.Equal(sd.Keys, tied.Keys) {
			t.Fatalf("%s: keys %q, want %q", name, sd.Keys, tied.Keys)
		}
		for _, k := range tied.Keys {
			if !slices.Equal(sd.Tensors[k].Data, tied.Tensors[k].Data) || !slices.Equal(sd.Tensors[k].Shape, tied.Tensors[k].Shape) {
				t.Errorf("%s %s differs from tied.pth", name, k)
			}
		}
		if sd.Tensors["encoder.weight"].Storage != sd.Tensors["decoder.weight"].Storage {
			t.Errorf("%s: decoder.weight is not tied to encoder.weight", name)
		}
	}
	path := filepath.Join(fixtures, "tied_p0.pth")
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "PERSID (a protocol 0 persistent id") {
		t.Errorf("tied_p0.pth: err = %v, want the PERSID refusal naming the file", err)
	}
}

// TestSpecialValues checks float16 and bfloat16 zeros, subnormals,
// infinities and NaN bit for bit against torch's float32 conversion.
func TestSpecialValues(t *testing.T) {
	m := readManifest(t)
	sd := loadFixture(t, "special.pth")
	if len(m.Special) != 2 {
		t.Fatalf("special.pth: %d entries in tensors.json", len(m.Special))
	}
	for k, want := range m.Special {
		got := sd.Tensors[k]
		if got.DType != want.DType || len(got.Data) != len(want.Bits) {
			t.Fatalf("%s: %s[%d], torch says %s[%d]", k, got.DType, len(got.Data), want.DType, len(want.Bits))
		}
		for i, b := range want.Bits {
			if g := math.Float32bits(got.Data[i]); g != uint32(b) {
				t.Errorf("%s[%d] = %#08x, torch says %#08x", k, i, g, uint32(b))
			}
		}
	}
}

// TestHostileFixtures checks that each hostile fixture fails with an error
// naming the file and the problem.
func TestHostileFixtures(t *testing.T) {
	m := readManifest(t)
	if len(m.Hostile) == 0 {
		t.Fatal("no hostile fixtures in tensors.json")
	}
	for name, want := range m.Hostile {
		path := filepath.Join(fixtures, name)
		_, err := Load(path)
		if err == nil {
			t.Errorf("%s: loaded", name)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, path+": ") || !strings.Contains(msg, want) || strings.Contains(msg, "\n") {
			t.Errorf("%s: error %q is not one line starting with %s: and containing %q", name, msg, path, want)
		}
	}
}

// TestErrorNames checks that errors name the path as the caller gave it,
// once, and quote a name that would not print on one line.
func TestErrorNames(t *testing.T) {
	path := filepath.Join(fixtures, "truncated_legacy.pth")
	_, err := Load(path)
	want := path + `: key "rnn.weight_ih_l0": storage "61855040": truncated file (1920 bytes needed at offset 37695, 1820 left)`
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
	_, err = Load(filepath.Join(fixtures, "nope.pth"))
	if err == nil || !os.IsNotExist(err) || strings.Count(err.Error(), "nope.pth") != 1 {
		t.Errorf("missing file: error %v", err)
	}
	_, err = Load(fixtures)
	if err == nil || err.Error() != fixtures+": not a regular file" {
		t.Errorf("folder: error %v", err)
	}
	_, err = Read(strings.NewReader("hello"), 5, "odd\nname.pth")
	if err == nil || !strings.HasPrefix(err.Error(), `"odd\nname.pth": not a PyTorch checkpoint`) {
		t.Errorf("odd name: error %v", err)
	}
}

// golden is the part of deep.json and tied.json these tests read.
type golden struct {
	VocabSize int  `json:"vocab_size"`
	Ninp      int  `json:"ninp"`
	Nhid      int  `json:"nhid"`
	Nlayers   int  `json:"nlayers"`
	Tied      bool `json:"tied"`
	Files     []string
}

// TestGoldenShapes checks that the model files have the LSTM shapes their
// JSON describes, in PyTorch's key order.
func TestGoldenShapes(t *testing.T) {
	for _, name := range []string{"deep", "tied"} {
		b, err := os.ReadFile(filepath.Join(fixtures, name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var g golden
		if err := json.Unmarshal(b, &g); err != nil {
			t.Fatal(err)
		}
		want := map[string][]int{
			"encoder.weight": {g.VocabSize, g.Ninp},
			"decoder.weight": {g.VocabSize, g.Nhid},
			"decoder.bias":   {g.VocabSize},
		}
		keys := []string{"encoder.weight"}
		for l := 0; l < g.Nlayers; l++ {
			in := g.Nhid
			if l == 0 {
				in = g.Ninp
			}
			p := "rnn."
			suffix := "_l" + string(rune('0'+l))
			want[p+"weight_ih"+suffix] = []int{4 * g.Nhid, in}
			want[p+"weight_hh"+suffix] = []int{4 * g.Nhid, g.Nhid}
			want[p+"bias_ih"+suffix] = []int{4 * g.Nhid}
			want[p+"bias_hh"+suffix] = []int{4 * g.Nhid}
			keys = append(keys, p+"weight_ih"+suffix, p+"weight_hh"+suffix, p+"bias_ih"+suffix, p+"bias_hh"+suffix)
		}
		keys = append(keys, "decoder.weight", "decoder.bias")
		for _, f := range g.Files {
			sd := loadFixture(t, f)
			if !slices.Equal(sd.Keys, keys) {
				t.Errorf("%s: keys %v, want %v", f, sd.Keys, keys)
			}
			for k, shape := range want {
				if !slices.Equal(sd.Tensors[k].Shape, shape) {
					t.Errorf("%s %s: shape %v, want %v", f, k, sd.Tensors[k].Shape, shape)
				}
			}
		}
	}
}
