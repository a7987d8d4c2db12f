package quant

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lstmq/lstmq/safetensors"
)

// TestCommittedModelFileMatchesPyTorch compares every tensor of the
// committed lstmq file model_pytorch.safetensors (TestCommittedModelFile
// checks that Save still writes it) with what PyTorch made of the same
// model (model_pytorch_ref.json, from testdata/torch/gen_safetensors_ref.py:
// quantize_dynamic under onednn): the same tensor names, dtypes and shapes;
// the int8 weights and zero points equal; the scales equal to PyTorch's
// q_scale() rounded to float32, which is how the file stores them; the
// float32 biases and embedding equal bit for bit. Exact equality
// throughout: the scheme "pytorch" computes the weights as PyTorch does.
func TestCommittedModelFileMatchesPyTorch(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(fixtureDir, "model_pytorch_ref.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Tensors map[string]struct {
			DType  safetensors.DType
			Shape  []int
			Values []float64
		}
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Read(filepath.Join(fixtureDir, "model_pytorch.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != len(ref.Tensors) {
		t.Errorf("the file has %d tensors, PyTorch's model %d", len(f.Tensors), len(ref.Tensors))
	}
	for i := range f.Tensors {
		got := &f.Tensors[i]
		want, ok := ref.Tensors[got.Name]
		if !ok {
			t.Errorf("%s: not a tensor of PyTorch's model", got.Name)
			continue
		}
		if got.DType != want.DType || !slices.Equal(got.Shape, want.Shape) {
			t.Errorf("%s: %s %v, PyTorch's %s %v", got.Name, got.DType, got.Shape, want.DType, want.Shape)
			continue
		}
		var vals []float64
		switch got.DType {
		case safetensors.I8:
			v, err := got.I8()
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range v {
				vals = append(vals, float64(x))
			}
		case safetensors.I32:
			v, err := got.I32()
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range v {
				vals = append(vals, float64(x))
			}
		case safetensors.F32:
			v, err := got.F32()
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range v {
				vals = append(vals, float64(x))
			}
			for k, w := range want.Values {
				want.Values[k] = float64(float32(w)) // a scale is a float64 in PyTorch
			}
		default:
			t.Fatalf("%s: dtype %s", got.Name, got.DType)
		}
		if len(vals) != len(want.Values) {
			t.Errorf("%s: %d values, PyTorch's %d", got.Name, len(vals), len(want.Values))
			continue
		}
		for k := range vals {
			if math.Float64bits(vals[k]) != math.Float64bits(want.Values[k]) {
				t.Errorf("%s[%d] = %v, PyTorch's %v", got.Name, k, vals[k], want.Values[k])
				break
			}
		}
	}
}
