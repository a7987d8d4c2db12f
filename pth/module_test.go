package pth

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// rnnFixtures is testdata/torch/rnn, written by gen_rnn.py and
// gen_module_variants.py.
var rnnFixtures = filepath.Join(fixtures, "rnn")

// rnnManifest is the part of rnn.json and module_variants.json these tests
// read.
type rnnManifest struct {
	NInp    int     `json:"ninp"`
	NHid    int     `json:"nhid"`
	NLayers int     `json:"nlayers"`
	Dropout float64 `json:"dropout"`
	Models  map[string]struct {
		Type         string   `json:"type"`
		Nonlinearity string   `json:"nonlinearity"`
		Tied         bool     `json:"tied"`
		Files        []string `json:"files"`
	} `json:"models"`
	Refused map[string]string `json:"refused"`
}

type variantsManifest struct {
	Variants map[string]string `json:"variants"` // file: the .pth it equals
	Refused  map[string]string `json:"refused"`
}

func readJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(rnnFixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// sameStateDict checks that got holds exactly want's keys in order, its
// shapes, dtypes and elements bit for bit, and the same storage sharing.
func sameStateDict(t *testing.T, name string, got, want *StateDict) {
	t.Helper()
	if !slices.Equal(got.Keys, want.Keys) {
		t.Fatalf("%s: keys %q, the state dict has %q", name, got.Keys, want.Keys)
	}
	for _, k := range want.Keys {
		g, w := got.Tensors[k], want.Tensors[k]
		if g == nil || w == nil {
			t.Fatalf("%s: %s is not a tensor", name, k)
		}
		if g.DType != w.DType || !sameTensor(g, w) {
			t.Errorf("%s: %s is %s %v, differs from the state dict's %s %v", name, k, g.DType, g.Shape, w.DType, w.Shape)
		}
	}
	for _, a := range want.Keys {
		for _, b := range want.Keys {
			if a < b && (got.Tensors[a].Storage == got.Tensors[b].Storage) != (want.Tensors[a].Storage == want.Tensors[b].Storage) {
				t.Errorf("%s: %s and %s share a storage: %v, in the state dict: %v", name, a, b,
					got.Tensors[a].Storage == got.Tensors[b].Storage, !(got.Tensors[a].Storage == got.Tensors[b].Storage))
			}
		}
	}
}

// TestModuleFixtures checks that every torch.save(model) file gives exactly
// the state dict torch.save(model.state_dict()) wrote, and the
// hyperparameters rnn.json records.
func TestModuleFixtures(t *testing.T) {
	var m rnnManifest
	readJSON(t, "rnn.json", &m)
	if len(m.Models) < 8 {
		t.Fatalf("rnn.json lists %d models", len(m.Models))
	}
	class := map[string]string{"gru_main.pt": "__main__.RNNModel", "lstm_user.pt": "mylm.RNNModel"}
	n := 0
	for stem, mm := range m.Models {
		ref := loadFixture(t, filepath.Join("rnn", stem+".pth"))
		if ref.Module != nil {
			t.Errorf("%s.pth: a state dict with a Module", stem)
		}
		for _, f := range mm.Files {
			if !strings.HasSuffix(f, ".pt") {
				continue
			}
			n++
			t.Run(f, func(t *testing.T) {
				sd := loadFixture(t, filepath.Join("rnn", f))
				sameStateDict(t, f, sd, ref)
				if mm.Tied && sd.Tensors["encoder.weight"].Storage != sd.Tensors["decoder.weight"].Storage {
					t.Errorf("decoder.weight is not tied to encoder.weight")
				}
				wantClass := class[f]
				if wantClass == "" {
					wantClass = "model.RNNModel"
				}
				want := Module{Class: wantClass, RNNType: mm.Type, Nonlinearity: mm.Nonlinearity, Dropout: m.Dropout,
					NInp: m.NInp, NHid: m.NHid, NLayers: m.NLayers}
				if sd.Module == nil || *sd.Module != want {
					t.Errorf("Module %+v, want %+v", sd.Module, want)
				}
				if !slices.Equal(sd.Metadata, ref.Metadata) {
					t.Errorf("Metadata %v, the state dict has %v", sd.Metadata, ref.Metadata)
				}
			})
		}
	}
	if n < 12 {
		t.Errorf("only %d whole-module files in rnn.json", n)
	}
}

// TestModuleVariants checks the files gen_module_variants.py re-saved with
// other pickle protocols and formats against their state dicts.
func TestModuleVariants(t *testing.T) {
	var v variantsManifest
	readJSON(t, "module_variants.json", &v)
	if len(v.Variants) < 5 {
		t.Fatalf("module_variants.json lists %d variants", len(v.Variants))
	}
	for f, pth := range v.Variants {
		t.Run(f, func(t *testing.T) {
			sd := loadFixture(t, filepath.Join("rnn", f))
			sameStateDict(t, f, sd, loadFixture(t, filepath.Join("rnn", pth)))
			if sd.Module == nil || sd.Module.Class != "model.RNNModel" {
				t.Errorf("Module %+v", sd.Module)
			}
			if sd.Tensors["encoder.weight"].Storage != sd.Tensors["decoder.weight"].Storage {
				t.Errorf("decoder.weight is not tied to encoder.weight")
			}
		})
	}
}

// TestModuleRefused checks the whole-module files a reader must refuse,
// with the substrings the manifests give.
func TestModuleRefused(t *testing.T) {
	var m rnnManifest
	readJSON(t, "rnn.json", &m)
	var v variantsManifest
	readJSON(t, "module_variants.json", &v)
	refused := map[string]string{}
	for f, want := range m.Refused {
		if strings.HasSuffix(f, ".pt") { // .pth ones are state dicts, refused by the model's loader
			refused[f] = want
		}
	}
	for f, want := range v.Refused {
		refused[f] = want
	}
	if len(refused) < 6 {
		t.Fatalf("%d refused whole-module files", len(refused))
	}
	kinds := map[string]error{
		"refused/unknown_class.pt":     ErrUnsafePickle,
		"refused/transformer.pt":       ErrUnsafePickle,
		"refused/transformer_model.pt": ErrUnsafePickle,
		"refused/missing_attr.pt":      ErrFormat,
	}
	for f, want := range refused {
		t.Run(f, func(t *testing.T) {
			path := filepath.Join(rnnFixtures, f)
			_, err := Load(path)
			if err == nil {
				t.Fatal("loaded")
			}
			if msg := err.Error(); !strings.HasPrefix(msg, path+": ") || !strings.Contains(msg, want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q is not one line starting with %s: and containing %q", msg, path, want)
			}
			if k := kinds[f]; k != nil && !errors.Is(err, k) {
				t.Errorf("error %q is not %v", err, k)
			}
		})
	}
}

// zipEntries reads the entries of a zip fixture, for patching.
func zipEntries(t *testing.T, name string) []entry {
	t.Helper()
	zr, err := zip.OpenReader(filepath.Join(rnnFixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var out []entry
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
		out = append(out, entry{name: f.Name, data: b})
	}
	return out
}

// TestModuleCrafted patches the pickle of tiny_gru_tied.pt (protocol 2:
// GLOBAL names end with newlines, BINPUT and BINGET index a memo no patch
// here moves) into module trees that are not the example's, and checks the
// refusal names what was found.
func TestModuleCrafted(t *testing.T) {
	base := zipEntries(t, "tiny_gru_tied.pt")
	// set returns the pickle with the value after attribute attr's
	// BINUNICODE and BINPUT (a bool, BININT1, BININT2 or BINFLOAT)
	// replaced by op.
	set := func(pkl []byte, attr string, op ...byte) []byte {
		key := append([]byte{'X', byte(len(attr)), 0, 0, 0}, attr...)
		i := bytes.Index(pkl, key)
		if i < 0 || pkl[i+len(key)] != 'q' {
			t.Fatalf("no attribute %q", attr)
		}
		i += len(key) + 2
		n := map[byte]int{0x88: 1, 0x89: 1, 'K': 2, 'M': 3, 'G': 9}[pkl[i]]
		if n == 0 {
			t.Fatalf("attribute %q: opcode %#x", attr, pkl[i])
		}
		out := slices.Clone(pkl[:i])
		out = append(out, op...)
		return append(out, pkl[i+n:]...)
	}
	replace := func(old, new string) func([]byte) []byte {
		return func(pkl []byte) []byte {
			if !bytes.Contains(pkl, []byte(old)) {
				t.Fatalf("no %q in the pickle", old)
			}
			return bytes.Replace(pkl, []byte(old), []byte(new), 1)
		}
	}
	tests := []struct {
		name  string
		patch func([]byte) []byte
		want  string // "" if it loads
	}{
		{"as is", func(b []byte) []byte { return b }, ""},
		{"other module", replace("cmodel\nRNNModel\n", "cmy.lm\nRNNModel\n"), ""},
		{"bidirectional", func(b []byte) []byte { return set(b, "bidirectional", 0x88) },
			"rnn (torch.nn.modules.rnn.GRU): bidirectional is bool true; lstmq reads only bidirectional=False"},
		{"batch_first", func(b []byte) []byte { return set(b, "batch_first", 0x88) }, "batch_first is bool true"},
		{"no bias", func(b []byte) []byte { return set(b, "bias", opNewFalse) }, "bias is bool false"},
		{"proj_size", func(b []byte) []byte { return set(b, "proj_size", 'K', 1) }, "proj_size is int 1"},
		{"mode", replace("X\x03\x00\x00\x00GRU", "X\x03\x00\x00\x00XYZ"), `rnn (torch.nn.modules.rnn.GRU): mode is "XYZ", want "GRU"`},
		{"LSTM class", replace("ctorch.nn.modules.rnn\nGRU\n", "ctorch.nn.modules.rnn\nLSTM\n"), `mode is "GRU", want "LSTM"`},
		{"RNN class", replace("ctorch.nn.modules.rnn\nGRU\n", "ctorch.nn.modules.rnn\nRNN\n"), `missing attribute "nonlinearity"`},
		{"rnn is a Linear", replace("ctorch.nn.modules.rnn\nGRU\n", "ctorch.nn.modules.linear\nLinear\n"),
			"model.RNNModel: rnn is torch.nn.modules.linear.Linear, want LSTM, GRU or RNN"},
		{"encoder is a Dropout", replace("ctorch.nn.modules.sparse\nEmbedding\n", "ctorch.nn.modules.dropout\nDropout\n"),
			"encoder is torch.nn.modules.dropout.Dropout, want Embedding"},
		{"top is an Embedding", replace("cmodel\nRNNModel\n", "ctorch.nn.modules.sparse\nEmbedding\n"),
			"holds a torch.nn.modules.sparse.Embedding module, not the word_language_model example's RNNModel"},
		{"other class name", replace("cmodel\nRNNModel\n", "cmodel\nRNNModelX\n"), "refusing to load global model.RNNModelX"},
		{"extra module", replace("X\x07\x00\x00\x00decoder", "X\x07\x00\x00\x00decodex"),
			`module "decodex" (torch.nn.modules.linear.Linear): the example's RNNModel has only drop, encoder, rnn and decoder`},
		{"rnn_type", replace("X\x08\x00\x00\x00rnn_type", "X\x08\x00\x00\x00rnn_typf"), ""}, // an unknown attribute is ignored
		{"dropout", func(b []byte) []byte { return set(b, "p", 'K', 2) }, "drop (torch.nn.modules.dropout.Dropout): p is 2, want a probability"},
		{"parameter name", replace("X\x0c\x00\x00\x00weight_hh_l1", "X\x0c\x00\x00\x00weight_hh_l7"), `unexpected parameter str "weight_hh_l7"`},
		{"num_layers", func(b []byte) []byte { return set(b, "num_layers", 'K', 1) }, `unexpected parameter str "weight_ih_l1"`},
		{"hidden_size", func(b []byte) []byte { return set(b, "hidden_size", 'K', 3) }, "model.RNNModel: nhid is int 2, but the rnn has 3"},
		{"in_features", func(b []byte) []byte { return set(b, "in_features", 'K', 3) }, "decoder in_features 3, but the rnn's hidden_size is 2"},
		{"num_embeddings", func(b []byte) []byte { return set(b, "num_embeddings", 'K', 9) }, `key "encoder.weight": shape [7 2], want [9 2]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entries := slices.Clone(base)
			for i, e := range entries {
				if strings.HasSuffix(e.name, "/data.pkl") {
					entries[i].data = tc.patch(slices.Clone(e.data))
				}
			}
			b := makeZip(t, entries...)
			if tc.want == "" {
				sd, err := readBytes(b, "dir/ok.pt")
				if err != nil || sd.Module == nil || len(sd.Keys) != 11 {
					t.Fatalf("err %v", err)
				}
				return
			}
			wantError(t, b, tc.want)
		})
	}
}

// TestModuleHostile checks pickles that misuse the module classes.
func TestModuleHostile(t *testing.T) {
	od := "\x80\x02ccollections\nOrderedDict\n)R"
	tests := []struct {
		name, pkl, want string
	}{
		{"reduce on a class", "\x80\x02cmodel\nRNNModel\n)R.", "REDUCE requires a Callable"},
		{"new with arguments", "\x80\x02cmodel\nRNNModel\nK\x01\x85\x81.", "model.RNNModel.__new__ with 1 arguments"},
		{"built twice", "\x80\x02cmodel\nRNNModel\n)\x81}b}b.", "model.RNNModel object built twice"},
		{"built with an int", "\x80\x02cmodel\nRNNModel\n)\x81K\x01b.", "model.RNNModel object built with a int, not a dict"},
		{"no state", "\x80\x02cmodel\nRNNModel\n)\x81.", "model.RNNModel: object without state"},
		{"empty state", "\x80\x02cmodel\nRNNModel\n)\x81}b.", `missing attribute "_parameters"`},
		{"class root", "\x80\x02cmodel\nRNNModel\n.", "holds a class model.RNNModel, not a state dict"},
		{"odd module name", "\x80\x02cos;x\nRNNModel\n.", "refusing to load global os;x.RNNModel"},
		{"set outside a module", "\x80\x02c__builtin__\nset\n)R.", "refusing to load global __builtin__.set at offset 2 (outside a whole-module checkpoint)"},
		{"object outside a module", od + "c__builtin__\nobject\n0.", "refusing to load global __builtin__.object at offset 29"},
		{"reconstructor of a storage", "\x80\x02ccopy_reg\n_reconstructor\nctorch\nFloatStorage\nc__builtin__\nobject\nN\x87Rcmodel\nRNNModel\n0.",
			"ObjectClass.PyNew unprocessable args"},
		{"module in a state dict", od + "(X\x01\x00\x00\x00wcmodel\nRNNModel\n)\x81u.", `key "w": not a tensor (model.RNNModel object)`},
		{"module persistent id in a zip", "\x80\x02(X\x06\x00\x00\x00modulecmodel\nRNNModel\nNNtQ.", "unexpected persistent id tuple"},
		// _modules holding the model itself: the walk does not recurse.
		{"cycle", "\x80\x02cmodel\nRNNModel\n)\x81q\x00}(X\x0b\x00\x00\x00_parameters" + od[2:] + "X\x08\x00\x00\x00_buffers" + od[2:] +
			"X\x08\x00\x00\x00_modules" + od[2:] + "(X\x03\x00\x00\x00rnnh\x00uub.", "rnn is model.RNNModel, want LSTM, GRU or RNN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, pickleZip(t, []byte(tc.pkl)), tc.want)
		})
	}
	// The legacy format's ('module', class, file, source) persistent ids.
	keys := []byte("\x80\x02].")
	for _, tc := range []struct{ name, pkl, want string }{
		{"module id of an int", "\x80\x02(X\x06\x00\x00\x00moduleK\x05NNtQ.", "module persistent id of a int, not a module class"},
		{"module id of 3 items", "\x80\x02(X\x06\x00\x00\x00modulecmodel\nRNNModel\nNtQ.", "module persistent id of 3 items"},
		{"module id with a bad source", "\x80\x02(X\x06\x00\x00\x00modulecmodel\nRNNModel\nNK\x01tQ.", "module persistent id of model.RNNModel: source is int"},
		{"module id", "\x80\x02(X\x06\x00\x00\x00modulecmodel\nRNNModel\nNNtQ)\x81.", "object without state"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, legacyFile([]byte(tc.pkl), keys), tc.want)
		})
	}
}
