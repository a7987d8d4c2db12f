package eval_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/lstmq/lstmq/checkpoint"
	"github.com/lstmq/lstmq/corpus"
	"github.com/lstmq/lstmq/eval"
	"github.com/lstmq/lstmq/internal/cpu/cputest"
	"github.com/lstmq/lstmq/internal/f32"
	"github.com/lstmq/lstmq/internal/q8"
	"github.com/lstmq/lstmq/quant"
)

// int8TestLoss is the test loss of testdata/torch/deep.pth quantized with
// scheme pytorch on the fixture corpus, as computed on amd64 (AVX2 and
// generic) and on arm64 under qemu (NEON, dotprod, i8mm and generic): the
// integer products are exact, the float parts after them (dequantization,
// PyTorch's LSTM cell, f32.LogSumExpPortable) round the same everywhere.
const int8TestLoss = 0x4016bde66e583973 // 5.6854493371341617

// TestInt8LossAcrossKernels computes that loss on every pair of f32 and
// q8 kernels this CPU runs and compares it with the constant, to the bit.
func TestInt8LossAcrossKernels(t *testing.T) {
	cp, err := corpus.Load(filepath.Join(torchDir, "corpus"))
	if err != nil {
		t.Fatal(err)
	}
	_, p, err := checkpoint.LoadPth(filepath.Join(torchDir, "deep.pth"), "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := quant.ParseScheme("pytorch")
	if err != nil {
		t.Fatal(err)
	}
	m, err := quant.Quantize(p, s)
	if err != nil {
		t.Fatal(err)
	}
	data := corpus.Batchify(cp.Test, 1)
	cputest.Each(t, f32.Kernels, func(t *testing.T) {
		cputest.Each(t, q8.Kernels, func(t *testing.T) {
			r, err := (&eval.Evaluator{Model: m, BPTT: 25}).Run(context.Background(), data)
			if err != nil {
				t.Fatal(err)
			}
			if got := math.Float64bits(r.Loss); got != int8TestLoss {
				t.Errorf("loss %.17g (%#x), want %.17g (%#x)", r.Loss, got, math.Float64frombits(int8TestLoss), uint64(int8TestLoss))
			}
		})
	})
}
