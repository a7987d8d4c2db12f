package pth

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fuzzSeeds are the small fixtures the committed seed corpus
// (testdata/fuzz/FuzzLoad) is made of: both formats, valid and hostile.
var fuzzSeeds = []string{
	"tiny.pth", "tiny_legacy.pth", "tiny_legacy_p1.pth", "tiny_p4.pth", "special.pth", "nontensor.pth",
	"posix_system.pth", "posix_system_legacy.pth", "qckpt/tiny.pth", "qckpt/tiny_channel.pth",
	// whole-module checkpoints: protocol 2 zip, protocol 1 legacy
	"rnn/tiny_gru_tied.pt", "rnn/tiny_gru_tied_legacy_p1.pt",
}

var updateFuzzCorpus = flag.Bool("pth.update-fuzz-corpus", false, "rewrite testdata/fuzz/FuzzLoad from the small fixtures")

// FuzzLoad reads arbitrary bytes as a checkpoint, zip or legacy. It must
// never panic; what loads must be consistent and survive a Save round trip.
func FuzzLoad(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzLoad, written by TestWriteFuzzCorpus.
	f.Fuzz(func(t *testing.T, b []byte) {
		sd, err := Read(bytes.NewReader(b), int64(len(b)), "fuzz.pth")
		if err != nil {
			return
		}
		if len(sd.Keys) != len(sd.Tensors)+len(sd.Values) {
			t.Fatalf("%d keys, %d tensors, %d values", len(sd.Keys), len(sd.Tensors), len(sd.Values))
		}
		if sd.Module != nil {
			checkModule(t, sd)
		}
		floatOnly := true
		for _, k := range sd.Keys {
			tt, v := sd.Tensors[k], sd.Values[k]
			if (tt == nil) == (v == nil) {
				t.Fatalf("%s: a tensor and a value, or neither", k)
			}
			if v != nil {
				floatOnly = false
				checkValue(t, k, v)
				continue
			}
			checkTensor(t, k, tt)
			floatOnly = floatOnly && tt.Data != nil
		}
		if !floatOnly {
			return // Save writes float tensors only
		}
		enc, err := encodeZip("fuzz.pth", sd.Keys, sd.Tensors, SaveOptions{Metadata: sd.Metadata})
		if err != nil {
			t.Fatal(err)
		}
		back, err := Read(bytes.NewReader(enc), int64(len(enc)), "fuzz_go.pth")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(back.Metadata, sd.Metadata) {
			t.Fatalf("metadata %v does not round-trip: %v", sd.Metadata, back.Metadata)
		}
		for _, k := range sd.Keys {
			a, c := sd.Tensors[k], back.Tensors[k]
			if !slices.Equal(a.Shape, c.Shape) || !sameBits(a.Data, c.Data) {
				t.Fatalf("%s does not round-trip", k)
			}
		}
	})
}

// checkTensor checks that a loaded tensor's elements match its shape and
// dtype, and a quantized one's qparams its shape.
func checkTensor(t *testing.T, k string, tt *Tensor) {
	if tt == nil {
		return // a None in a tuple
	}
	n := tt.NumElements()
	var ok bool
	switch tt.DType {
	case "int64":
		ok = len(tt.Int64) == n && tt.Data == nil && tt.Int8 == nil
	case "qint8":
		ok = len(tt.Int8) == n && tt.Data == nil && tt.Int64 == nil && len(tt.Scales) == len(tt.ZeroPoints)
		switch tt.QScheme {
		case "per_tensor_affine":
			ok = ok && len(tt.Scales) == 1
		case "per_channel_affine":
			ok = ok && tt.Axis < len(tt.Shape) && len(tt.Scales) == tt.Shape[tt.Axis]
		default:
			ok = false
		}
	default:
		ok = len(tt.Data) == n && tt.Int64 == nil && tt.Int8 == nil
	}
	if !ok {
		t.Fatalf("%s: inconsistent %s tensor", k, tt.DType)
	}
}

func checkValue(t *testing.T, k string, v *Value) {
	kinds := 0
	if v.DType != "" {
		kinds++
	}
	if v.Tuple != nil {
		kinds++
		for _, tt := range v.Tuple {
			checkTensor(t, k, tt)
		}
	}
	if v.Packed != nil {
		kinds++
		checkPacked(t, k, v.Packed)
	}
	if kinds != 1 {
		t.Fatalf("%s: value of %d kinds", k, kinds)
	}
}

func checkPacked(t *testing.T, k string, p *Packed) {
	switch p.Class {
	case LinearPackedParams:
		if len(p.Tensors) != 2 || p.Tensors[0] == nil || p.Tensors[0].DType != "qint8" || len(p.Packed) != 0 {
			t.Fatalf("%s: inconsistent %s", k, p.Class)
		}
	case CellParams:
	default:
		t.Fatalf("%s: class %s", k, p.Class)
	}
	for _, tt := range p.Tensors {
		checkTensor(t, k, tt)
	}
	for _, q := range p.Packed {
		if q.Class != LinearPackedParams {
			t.Fatalf("%s: %s inside %s", k, q.Class, p.Class)
		}
		checkPacked(t, k, q)
	}
}

// checkModule checks that a whole-module checkpoint's state dict is the
// example's RNNModel's as its Module describes it.
func checkModule(t *testing.T, sd *StateDict) {
	m := sd.Module
	gates := map[string]int{"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}[m.RNNType]
	if gates == 0 || (m.Nonlinearity != "") != (gates == 1) || m.NInp < 1 || m.NHid < 1 || m.NLayers < 1 || !(m.Dropout >= 0 && m.Dropout <= 1) {
		t.Fatalf("inconsistent Module %+v", m)
	}
	if len(sd.Values) != 0 || len(sd.Keys) < 2+4*m.NLayers || len(sd.Keys) > 3+4*m.NLayers {
		t.Fatalf("%d keys, %d values for %+v", len(sd.Keys), len(sd.Values), m)
	}
	for k := range m.NLayers {
		in := m.NHid
		if k == 0 {
			in = m.NInp
		}
		for key, shape := range map[string][]int{
			fmt.Sprintf("rnn.weight_ih_l%d", k): {gates * m.NHid, in},
			fmt.Sprintf("rnn.weight_hh_l%d", k): {gates * m.NHid, m.NHid},
			fmt.Sprintf("rnn.bias_ih_l%d", k):   {gates * m.NHid},
		} {
			if tt := sd.Tensors[key]; tt == nil || !slices.Equal(tt.Shape, shape) {
				t.Fatalf("%s: %v, want %v", key, tt, shape)
			}
		}
	}
}

func sameBits(a, b []float32) bool {
	return sameTensor(&Tensor{Data: a}, &Tensor{Data: b})
}

// TestWriteFuzzCorpus rewrites the committed seed corpus when asked:
//
//	go test ./pth -run TestWriteFuzzCorpus -pth.update-fuzz-corpus
func TestWriteFuzzCorpus(t *testing.T) {
	if !*updateFuzzCorpus {
		t.Skip("run with -pth.update-fuzz-corpus to rewrite testdata/fuzz/FuzzLoad")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzLoad")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range fuzzSeeds {
		b, err := os.ReadFile(filepath.Join(fixtures, name))
		if err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, strings.ReplaceAll(name, "/", "_")), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
