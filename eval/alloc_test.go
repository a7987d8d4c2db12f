package eval_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/lstmq/lstmq/checkpoint"
	"github.com/lstmq/lstmq/corpus"
	"github.com/lstmq/lstmq/eval"
	"github.com/lstmq/lstmq/internal/parallel"
	"github.com/lstmq/lstmq/model"
	"github.com/lstmq/lstmq/quant"
)

var torchDir = filepath.Join("..", "testdata", "torch")

func fixtureModels(tb testing.TB) (map[string]*model.Model, *corpus.Batches) {
	tb.Helper()
	cp, err := corpus.Load(filepath.Join(torchDir, "corpus"))
	if err != nil {
		tb.Fatal(err)
	}
	fp, p, err := checkpoint.LoadPth(filepath.Join(torchDir, "deep.pth"), "")
	if err != nil {
		tb.Fatal(err)
	}
	ms := map[string]*model.Model{"fp32": fp}
	for _, name := range []string{"pytorch", "channel-act8-emb8"} {
		s, err := quant.ParseScheme(name)
		if err != nil {
			tb.Fatal(err)
		}
		if ms[name], err = quant.Quantize(p, s); err != nil {
			tb.Fatal(err)
		}
	}
	// The example's other kinds (testdata/torch/rnn), fp32 and int8.
	for _, c := range []struct{ stem, nonlinearity string }{{"gru", ""}, {"rnn_tanh", "tanh"}, {"rnn_relu", "relu"}} {
		fp, p, err := checkpoint.LoadPth(filepath.Join(torchDir, "rnn", c.stem+".pth"), c.nonlinearity)
		if err != nil {
			tb.Fatal(err)
		}
		ms[c.stem] = fp
		for _, name := range []string{"pytorch", "channel-act8"} {
			s, _ := quant.ParseScheme(name)
			if ms[c.stem+"/"+name], err = quant.Quantize(p, s); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return ms, corpus.Batchify(cp.Test, 1)
}

// TestNoAllocsPerChunk checks the hot loop's steady state: one bptt chunk
// through the model and the loss allocates nothing on one thread, for
// every kind (LSTM, GRU, RNN_TANH, RNN_RELU) in fp32 and int8.
func TestNoAllocsPerChunk(t *testing.T) {
	ms, data := fixtureModels(t)
	for name, m := range ms {
		w := model.NewWork(nil)
		st := m.NewState(1)
		x, y := data.Get(0, 25)
		logits := make([]float32, len(x)*m.Tokens())
		chunk := func() {
			m.Forward(w, logits, x, len(x), 1, st)
			eval.MeanCrossEntropy(logits, y, m.Tokens())
		}
		chunk()
		if n := testing.AllocsPerRun(20, chunk); n != 0 {
			t.Errorf("%s: %v allocations per chunk", name, n)
		}
	}
}

func BenchmarkEvaluate(b *testing.B) {
	ms, data := fixtureModels(b)
	for _, name := range []string{"fp32", "pytorch", "channel-act8-emb8"} {
		b.Run("model=deep/"+name, func(b *testing.B) {
			e := &eval.Evaluator{Model: ms[name], BPTT: 25}
			b.ReportAllocs()
			for b.Loop() {
				e.Run(context.Background(), data)
			}
			b.ReportMetric(float64(data.Steps-1)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// TestThreadsIdentical: the evaluation on 1 to 4 threads (the pipelined
// loop from 2 on) gives the same loss to the bit, for the fp32 and int8
// models of every kind, with a chunk that does not divide the data; a
// cancelled context stops it.
func TestThreadsIdentical(t *testing.T) {
	ms, data := fixtureModels(t)
	for name, m := range ms {
		var want eval.Result
		for threads := 1; threads <= 4; threads++ {
			e := &eval.Evaluator{Model: m, BPTT: 7, Work: model.NewWork(parallel.NewPool(threads))}
			r, err := e.Run(context.Background(), data)
			if err != nil {
				t.Fatal(err)
			}
			if threads == 1 {
				want = r
			} else if r.Loss != want.Loss || r.Tokens != want.Tokens {
				t.Errorf("%s on %d threads: loss %v (%d tokens), one thread %v (%d)", name, threads, r.Loss, r.Tokens, want.Loss, want.Tokens)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		e := &eval.Evaluator{Model: m, Work: model.NewWork(parallel.NewPool(2))}
		if _, err := e.Run(ctx, data); err != context.Canceled {
			t.Errorf("%s: cancelled run returned %v", name, err)
		}
	}
}
