package train

import (
	"math/rand/v2"
	"testing"

	"github.com/lstmq/lstmq/internal/parallel"
	"github.com/lstmq/lstmq/model"
)

// BenchmarkStep times one training step (forward, backward, clipping, SGD)
// of each model type on one thread, dropout 0.2, on a chunk of 35×20
// tokens (bptt × batch, main.py's defaults), reporting training words per
// second as Train's summary counts them.
func BenchmarkStep(b *testing.B) {
	const V, E, H, L, T, B = 1000, 64, 64, 2, 35, 20
	for _, k := range []model.Kind{model.LSTM, model.GRU, model.RNNTanh, model.RNNReLU} {
		b.Run("kind="+k.String()+"/shape=1000x64x64x2", func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			p, err := InitParams(Config{Kind: k, EmSize: E, NHid: H, NLayers: L}, V, rng)
			if err != nil {
				b.Fatal(err)
			}
			n := newNet(p, 0.2, 3)
			n.s.Pool = parallel.NewPool(1)
			st := model.NewState(L, B, H)
			ids := make([]int32, T*B)
			y := make([]int32, T*B)
			for i := range ids {
				ids[i], y[i] = int32(rng.IntN(V)), int32(rng.IntN(V))
			}
			b.ReportAllocs()
			for b.Loop() {
				n.step(ids, y, T, B, st, 1e-3, 0.25)
			}
			b.ReportMetric(float64(b.N*T*B)/b.Elapsed().Seconds(), "words/s")
		})
	}
}
