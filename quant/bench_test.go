package quant

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/lstmq/lstmq/model"
)

// BenchmarkForward runs one bptt chunk (35 steps, batch 1, as the
// tutorial's evaluation) through a model of 10000 tokens, 256 inputs,
// 256 hidden units and 2 layers, fp32 beside each scheme.
func BenchmarkForward(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	const ntoken, t, batch = 10000, 35, 1
	p := randomParams(r, ntoken, 256, 256, 2)
	ids := make([]int32, t*batch)
	for i := range ids {
		ids[i] = int32(r.IntN(ntoken))
	}
	logits := make([]float32, t*batch*ntoken)
	for _, name := range []string{"fp32", "pytorch", "channel-act8", "channel-act8-emb8", "block32-act8"} {
		var m *model.Model
		if name == "fp32" {
			m = model.New(*p, 0)
		} else {
			s, _ := ParseScheme(name)
			var err error
			if m, err = Quantize(p, s); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("scheme=%s", name), func(b *testing.B) {
			st := m.NewState(batch)
			b.ReportAllocs()
			for b.Loop() {
				m.Forward(nil, logits, ids, t, batch, st)
			}
			b.ReportMetric(float64(b.N*t*batch)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
