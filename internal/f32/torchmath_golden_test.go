package f32

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/lstmq/lstmq/internal/cpu"
)

// torchMath is testdata/torch/torchmath.json, written by
// testdata/torch/gen_torchmath.py from PyTorch 1.13 (Debian: Sleef 3.5.1,
// glibc 2.36, AVX2); every float32 is its bit pattern.
type torchMath struct {
	Torch   string
	X       []uint32
	Exp     []uint32 // torch.exp(x)
	Tanh    []uint32 // torch.tanh(x)
	Libm    []uint32 // glibc expf(x)
	Sigmoid []struct{ X, Y []uint32 }
	Cells   []struct {
		B, H             int
		Gates, C, Cy, Hy []uint32
	}
}

func loadTorchMath(t *testing.T) *torchMath {
	t.Helper()
	path := filepath.Join("..", "..", "testdata", "torch", "torchmath.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m torchMath
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &m
}

func fromBits(u []uint32) []float32 {
	f := make([]float32, len(u))
	for i, v := range u {
		f[i] = math.Float32frombits(v)
	}
	return f
}

// sameBits reports the first index where got and want differ in their bits
// (−1 if none) and how many differ.
func sameBits(got []float32, want []uint32) (first, n int) {
	first = -1
	for i, w := range want {
		if math.Float32bits(got[i]) != w {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	return first, n
}

// The tolerance of these golden tests is zero: every value must have
// PyTorch's bits, NaN payloads and signed zeros included.

func TestTorchMathGoldenScalar(t *testing.T) {
	m := loadTorchMath(t)
	x := fromBits(m.X)
	for _, f := range []struct {
		name string
		fn   func(float32) float32
		want []uint32
	}{{"sleefExpf vs torch.exp", sleefExpf, m.Exp}, {"sleefTanhf vs torch.tanh", sleefTanhf, m.Tanh}, {"glibcExpf vs glibc expf", glibcExpf, m.Libm}} {
		got := make([]float32, len(x))
		for i, v := range x {
			got[i] = f.fn(v)
		}
		if i, n := sameBits(got, f.want); n > 0 {
			t.Errorf("%s: %d of %d differ; first x = %#08x: got %#08x, want %#08x", f.name, n, len(x), m.X[i], math.Float32bits(got[i]), f.want[i])
		} else {
			t.Logf("%s: %d values bit-exact", f.name, len(x))
		}
	}
}

func TestTorchMathGolden(t *testing.T) {
	m := loadTorchMath(t)
	x := fromBits(m.X)
	forEachLevel(t, func(t *testing.T, lv cpu.Level) {
		got := make([]float32, len(x))
		ExpTorch(got, x)
		if i, n := sameBits(got, m.Exp); n > 0 {
			t.Errorf("ExpTorch: %d of %d differ from torch.exp; first x = %#08x: got %#08x, want %#08x", n, len(x), m.X[i], math.Float32bits(got[i]), m.Exp[i])
		}
		TanhTorch(got, x)
		if i, n := sameBits(got, m.Tanh); n > 0 {
			t.Errorf("TanhTorch: %d of %d differ from torch.tanh; first x = %#08x: got %#08x, want %#08x", n, len(x), m.X[i], math.Float32bits(got[i]), m.Tanh[i])
		}
		var nsig int
		for _, r := range m.Sigmoid {
			y := make([]float32, len(r.X))
			SigmoidTorch(y, fromBits(r.X), TorchBlockAVX2)
			if i, n := sameBits(y, r.Y); n > 0 {
				t.Errorf("SigmoidTorch, row of %d: %d differ from torch.sigmoid; first [%d] x = %#08x: got %#08x, want %#08x", len(r.X), n, i, r.X[i], math.Float32bits(y[i]), r.Y[i])
			}
			nsig += len(r.X)
		}
		var ncell int
		for _, cl := range m.Cells {
			c := fromBits(cl.C)
			hOut := make([]float32, cl.B*cl.H)
			LSTMCellTorch(fromBits(cl.Gates), c, hOut, cl.B, cl.H, cl.H)
			if i, n := sameBits(c, cl.Cy); n > 0 {
				t.Errorf("LSTMCellTorch b=%d h=%d: %d of c' differ; first [%d]: got %#08x, want %#08x", cl.B, cl.H, n, i, math.Float32bits(c[i]), cl.Cy[i])
			}
			if i, n := sameBits(hOut, cl.Hy); n > 0 {
				t.Errorf("LSTMCellTorch b=%d h=%d: %d of h' differ; first [%d]: got %#08x, want %#08x", cl.B, cl.H, n, i, math.Float32bits(hOut[i]), cl.Hy[i])
			}
			ncell += len(c)
		}
		t.Logf("bit-exact with PyTorch %s: exp %d, tanh %d, sigmoid %d (%d rows), cell %d×(c', h') (%d cells)", m.Torch, len(x), len(x), nsig, len(m.Sigmoid), ncell, len(m.Cells))
	})
}
