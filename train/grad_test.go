package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lstmq/lstmq/internal/f32"
	"github.com/lstmq/lstmq/model"
)

// refNet is a float64 reference of the training forward pass, written
// straight from the equations, for finite differences.
type refNet struct {
	kind           model.Kind
	nt, ne, nh, nl int
	enc, decW      []float64 // decW aliases enc when tied
	decB           []float64
	wih, whh       [][]float64
	bih, bhh       [][]float64
	tied           bool
}

func toRef(p *model.Params) *refNet {
	f := func(s []float32) []float64 {
		d := make([]float64, len(s))
		for i, v := range s {
			d[i] = float64(v)
		}
		return d
	}
	r := &refNet{kind: p.Kind, nt: p.NToken, ne: p.NInp, nh: p.NHid, nl: len(p.Layers), enc: f(p.Encoder), decB: f(p.DecoderB), tied: tiedParams(p)}
	r.decW = r.enc
	if !r.tied {
		r.decW = f(p.DecoderW)
	}
	for _, l := range p.Layers {
		r.wih = append(r.wih, f(l.Wih))
		r.whh = append(r.whh, f(l.Whh))
		r.bih = append(r.bih, f(l.Bih))
		r.bhh = append(r.bhh, f(l.Bhh))
	}
	return r
}

// tensors lists the parameters in the order of the package's tensors().
func (r *refNet) tensors() [][]float64 {
	ts := [][]float64{r.enc}
	for k := range r.nl {
		ts = append(ts, r.wih[k], r.whh[k], r.bih[k], r.bhh[k])
	}
	if !r.tied {
		ts = append(ts, r.decW)
	}
	return append(ts, r.decB)
}

// loss is the mean cross-entropy of the chunk ids (t×b) against y from
// state (h0, c0) (nl×b×nh each), with the dropout masks (nil: none).
func (r *refNet) loss(ids, y []int32, t, b int, h0, c0 []float32, maskEmb []float32, maskLay [][]float32, maskOut []float32) float64 {
	E, H := r.ne, r.nh
	N := t * b
	x := make([]float64, N*E)
	for i, id := range ids[:N] {
		for p := range E {
			x[i*E+p] = r.enc[int(id)*E+p]
			if maskEmb != nil {
				x[i*E+p] *= float64(maskEmb[i*E+p])
			}
		}
	}
	in := E
	sig := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	for k := range r.nl {
		h := make([]float64, b*H)
		c := make([]float64, b*H)
		for i := range h {
			h[i] = float64(h0[k*b*H+i])
			c[i] = float64(c0[k*b*H+i])
		}
		out := make([]float64, N*H)
		for s := range t {
			hn := make([]float64, b*H)
			for bi := range b {
				xs := x[(s*b+bi)*in : (s*b+bi+1)*in]
				hs := h[bi*H : (bi+1)*H]
				G := r.kind.Gates()
				pre := make([]float64, G*H) // W_ih·x + b_ih
				hid := make([]float64, G*H) // W_hh·h + b_hh
				for j := range G * H {
					u, v := r.bih[k][j], r.bhh[k][j]
					for p := range in {
						u += r.wih[k][j*in+p] * xs[p]
					}
					for p := range H {
						v += r.whh[k][j*H+p] * hs[p]
					}
					pre[j], hid[j] = u, v
				}
				for j := range H {
					switch r.kind {
					case model.LSTM:
						i, f, g, o := sig(pre[j]+hid[j]), sig(pre[H+j]+hid[H+j]), math.Tanh(pre[2*H+j]+hid[2*H+j]), sig(pre[3*H+j]+hid[3*H+j])
						c[bi*H+j] = f*c[bi*H+j] + i*g
						hn[bi*H+j] = o * math.Tanh(c[bi*H+j])
					case model.GRU:
						rg, zg := sig(pre[j]+hid[j]), sig(pre[H+j]+hid[H+j])
						ng := math.Tanh(pre[2*H+j] + rg*hid[2*H+j])
						hn[bi*H+j] = (1-zg)*ng + zg*hs[j]
					case model.RNNTanh:
						hn[bi*H+j] = math.Tanh(pre[j] + hid[j])
					case model.RNNReLU:
						hn[bi*H+j] = max(pre[j]+hid[j], 0)
					}
				}
			}
			h = hn
			copy(out[s*b*H:], h)
		}
		mask := maskOut
		if k < r.nl-1 && maskLay != nil {
			mask = maskLay[k]
		}
		if mask != nil {
			for i := range out {
				out[i] *= float64(mask[i])
			}
		}
		x, in = out, H
	}
	var total float64
	for i := range N {
		z := make([]float64, r.nt)
		mx := math.Inf(-1)
		for j := range r.nt {
			v := r.decB[j]
			for p := range H {
				v += r.decW[j*H+p] * x[i*H+p]
			}
			z[j] = v
			mx = max(mx, v)
		}
		var se float64
		for _, v := range z {
			se += math.Exp(v - mx)
		}
		total += mx + math.Log(se) - z[y[i]]
	}
	return total / float64(N)
}

type gradCase struct {
	name       string
	kind       model.Kind
	ne, nh, nl int
	tied       bool
	dropout    float64
}

// TestGradients compares the backward pass of every kind with central
// differences of a float64 reference of the forward pass.
func TestGradients(t *testing.T) {
	var cases []gradCase
	for _, k := range []model.Kind{model.LSTM, model.GRU, model.RNNTanh, model.RNNReLU} {
		cases = append(cases,
			gradCase{"untied", k, 4, 5, 2, false, 0},
			gradCase{"tied", k, 5, 5, 2, true, 0},
			gradCase{"dropout", k, 4, 5, 2, false, 0.3},
			gradCase{"tied-dropout-3layers", k, 3, 3, 3, true, 0.5},
			gradCase{"1layer", k, 6, 4, 1, false, 0},
		)
	}
	for _, kernels := range []bool{true, false} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%v/%s/kernels=%v", tc.kind, tc.name, kernels), func(t *testing.T) {
				withSIMD(t, kernels)
				checkGradients(t, tc)
			})
		}
	}
}

func checkGradients(t *testing.T, tc gradCase) {
	const V, T, B = 11, 4, 3
	rng := rand.New(rand.NewPCG(7, uint64(tc.ne*100+tc.nh*10+tc.nl)))
	cfg := Config{Kind: tc.kind, EmSize: tc.ne, NHid: tc.nh, NLayers: tc.nl, Tied: tc.tied}
	p, err := InitParams(cfg, V, rng)
	if err != nil {
		t.Fatal(err)
	}
	// Larger weights than the default init, and a nonzero decoder bias, so
	// that every gate works away from its linear region.
	for _, ts := range tensors(p) {
		for i := range ts {
			ts[i] = float32(rng.NormFloat64() * 0.5)
		}
	}
	ids := make([]int32, T*B)
	y := make([]int32, T*B)
	for i := range ids {
		ids[i] = int32(rng.IntN(V))
		y[i] = int32(rng.IntN(V))
	}
	ids[1] = ids[0] // a repeated id: the embedding's scatter-add must sum
	st := model.NewState(tc.nl, B, tc.nh)
	for i := range st.H {
		st.H[i] = float32(rng.Float64()*1.6 - 0.8)
		st.C[i] = float32(rng.NormFloat64())
	}
	h0 := append([]float32(nil), st.H...)
	c0 := append([]float32(nil), st.C...)

	n := newNet(p, tc.dropout, 1)
	var maskEmb, maskOut []float32
	var maskLay [][]float32
	if tc.dropout > 0 {
		n.drawMasks(T * B)
		n.fixedMasks = true
		maskEmb, maskOut = n.maskEmb, n.maskOut
		for k := range tc.nl - 1 {
			maskLay = append(maskLay, n.lay[k].mask)
		}
	}
	loss := n.forward(ids, y, T, B, st, true)
	n.backward()

	r := toRef(p)
	refLoss := r.loss(ids, y, T, B, h0, c0, maskEmb, maskLay, maskOut)
	// float32 forward against float64: a few ulp of a loss near 3.
	if math.Abs(loss-refLoss) > 1e-5 {
		t.Errorf("loss %v, float64 reference %v", loss, refLoss)
	}
	gs := tensors(n.g)
	rs := r.tensors()
	if len(gs) != len(rs) {
		t.Fatalf("%d gradient tensors, reference has %d", len(gs), len(rs))
	}
	// Central differences in float64 with h = 1e-5: truncation error
	// O(h²·f''') ≈ 1e-10 and rounding error ≈ 1e-16/1e-5 = 1e-11, so the
	// reference gradient is good to ~1e-9. The float32 backward carries
	// relative rounding errors of float32's ε = 6e-8 through a few dozen
	// operations (measured: at most 3e-8 here); 1e-6·(1 + |g|) bounds them
	// with room to spare, while a wrong term in the backward pass is off by
	// far more (most gradients here are 1e-3 … 1e-1).
	const h = 1e-5
	worst := 0.0
	for ti, rt := range rs {
		for i := range rt {
			v := rt[i]
			rt[i] = v + h
			lp := r.loss(ids, y, T, B, h0, c0, maskEmb, maskLay, maskOut)
			rt[i] = v - h
			lm := r.loss(ids, y, T, B, h0, c0, maskEmb, maskLay, maskOut)
			rt[i] = v
			want := (lp - lm) / (2 * h)
			got := float64(gs[ti][i])
			d := math.Abs(got - want)
			worst = max(worst, d/(1+math.Abs(want)))
			if d > 1e-6*(1+math.Abs(want)) {
				t.Errorf("tensor %d [%d]: gradient %.8g, finite differences %.8g", ti, i, got, want)
			}
		}
	}
	t.Logf("loss %.6f, worst relative gradient error %.2g", loss, worst)
}

// withSIMD runs the rest of the test on the best SIMD kernels of
// internal/f32 this CPU has, or on its pure-Go reference.
func withSIMD(t testing.TB, on bool) {
	old := f32.Kernels.Active()
	name := "generic"
	if av := f32.Kernels.Available(); on {
		name = av[len(av)-1]
	}
	if err := f32.Kernels.Select(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f32.Kernels.Select(old) })
}
