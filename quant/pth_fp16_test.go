package quant

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lstmq/lstmq/checkpoint"
	"github.com/lstmq/lstmq/corpus"
	"github.com/lstmq/lstmq/internal/f16"
	"github.com/lstmq/lstmq/pth"
)

// Fixture from testdata/torch/fp16/gen_fp16.py (PyTorch 1.13): the state
// dict quantize_dynamic(…, dtype=torch.float16) writes for the model of
// testdata/torch/qckpt/fp32.pth, and PyTorch's loss of that model's
// float16 weights computed in float32.
var fp16Dir = filepath.Join("..", "testdata", "torch", "fp16")

// TestLoadPthFP16 reads the float16 dynamic-quantized state dict.
//
// Its loss must be within 1e-5 of PyTorch's. The float16 weights are
// PyTorch's exactly (checked below against the float32 file rounded), and
// both compute every product and cell in float32; what differs is the
// order of the float32 sums (PyTorch's reference runs the float LSTM, whose
// products sum in blocks; lstmq accumulates in input order with FMAs) and
// PyTorch's Sleef exp/tanh against lstmq's f32.LSTMCell. Each is a relative
// error of a few 1e-7 on a logit, which moves a mean cross-entropy of ~4 by
// about 1e-6; 1e-5 leaves a margin of ten. (The float16 rounding itself
// moves the loss by 1.3e-6 on this model: fp32_loss vs loss in fp16.json.)
func TestLoadPthFP16(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(fp16Dir, "fp16.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		NToken, Batch, BPTT int
		Loss                float64
		FP32Loss            float64 `json:"fp32_loss"`
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	m, scheme, err := LoadPth(filepath.Join(fp16Dir, "fp16.pth"), 127)
	if err != nil {
		t.Fatal(err)
	}
	if scheme != "fp16-emb32" {
		t.Errorf("scheme %q, want fp16-emb32", scheme)
	}
	c, err := corpus.Load(filepath.Join("..", "testdata", "torch", "corpus"))
	if err != nil {
		t.Fatal(err)
	}
	data := corpus.Batchify(c.Test, want.Batch)
	loss := testLoss(t, m, data)
	t.Logf("loss %.9f, PyTorch %.9f (float32 model %.9f)", loss, want.Loss, want.FP32Loss)
	if d := math.Abs(loss - want.Loss); d > 1e-5 {
		t.Errorf("loss %.9f, PyTorch %.9f: differ by %.3g > 1e-5", loss, want.Loss, d)
	}

	// The file's model is Quantize's fp16-emb32 of the float32 file: the
	// same float16 weights, bit for bit, and so the same logits.
	_, p, err := checkpoint.LoadPth(filepath.Join(qckptDir, "fp32.pth"), "")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := ParseScheme("fp16-emb32")
	q, err := Quantize(p, s)
	if err != nil {
		t.Fatal(err)
	}
	got, ref := m.RNN.(*HalfRNN), q.RNN.(*HalfRNN)
	for k := range got.Layer {
		if !slices.Equal(got.Layer[k].Wih.Bits(), ref.Layer[k].Wih.Bits()) || !slices.Equal(got.Layer[k].Whh.Bits(), ref.Layer[k].Whh.Bits()) {
			t.Errorf("layer %d: float16 weights differ from the float32 file's rounded", k)
		}
	}
	if !slices.Equal(m.Decoder.(*HalfLinear).W.Bits(), q.Decoder.(*HalfLinear).W.Bits()) {
		t.Error("decoder: float16 weights differ from the float32 file's rounded")
	}
	if l := testLoss(t, q, data); l != loss {
		t.Errorf("Quantize(fp16-emb32) loss %.9f, the file's %.9f", l, loss)
	}
}

// TestLoadPthFP16Errors edits the float16 state dict into what it must refuse.
func TestLoadPthFP16Errors(t *testing.T) {
	load := func() *pth.StateDict {
		sd, err := pth.Load(filepath.Join(fp16Dir, "fp16.pth"))
		if err != nil {
			t.Fatal(err)
		}
		return sd
	}
	cell := func(sd *pth.StateDict) *pth.Packed { return sd.Values["rnn._all_weight_values.1.param"].Packed }
	for _, tc := range []struct {
		name string
		edit func(sd *pth.StateDict)
		want string
	}{
		{"ok", func(*pth.StateDict) {}, ""},
		{"qint8 cell", func(sd *pth.StateDict) { cell(sd).Kind = "quantized_dynamic" }, `cell params of kind "quantized_dynamic" in a float16 model`},
		{"one packed", func(sd *pth.StateDict) { cell(sd).Packed = cell(sd).Packed[:1] }, "1 packed weights"},
		{"decoder shape", func(sd *pth.StateDict) {
			d := sd.Values["decoder._packed_params._packed_params"]
			d.Tuple[0].Shape, d.Tuple[1] = []int{16, 291}, nil
		}, "weight 16×291, want 291×16"},
		{"short data", func(sd *pth.StateDict) { w := cell(sd).Packed[1].Tensors[0]; w.Data = w.Data[:10] }, "10 values for 64×16"},
		{"no bias", func(sd *pth.StateDict) { cell(sd).Packed[0].Tensors[1] = nil }, "want 64×16, 64×16 and both biases"},
		{"int weight", func(sd *pth.StateDict) {
			w := cell(sd).Packed[0].Tensors[0]
			w.Data, w.DType = nil, "int64"
		}, "want a float matrix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sd := load()
			tc.edit(sd)
			_, _, err := FromStateDict(sd, 127)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	// Saturation: PyTorch clamps to ±65504 when it packs; so does LoadPth.
	sd := load()
	cell(sd).Packed[0].Tensors[0].Data[3] = 1e9
	m, _, err := FromStateDict(sd, 127)
	if err != nil {
		t.Fatal(err)
	}
	if v := m.RNN.(*HalfRNN).Layer[1].Wih.Float32()[3]; v != f16.MaxFP16 {
		t.Errorf("weight 1e9 loads as %g, want 65504", v)
	}
}
