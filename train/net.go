package train

import (
	"math"
	"math/rand/v2"

	"github.com/lstmq/lstmq/internal/f32"
	"github.com/lstmq/lstmq/internal/parallel"
	"github.com/lstmq/lstmq/model"
)

// net is a model being trained: its parameters, their gradients (in a
// model.Params of the same shapes, the decoder's weight gradient aliasing
// the encoder's when tied), and the activations of the last chunk that the
// backward pass needs.
type net struct {
	p, g                *model.Params
	tied                bool
	nt, ne, nh, nl      int // ntoken, ninp, nhid, nlayers
	dropout             float64
	rng                 *rand.Rand // dropout masks
	fixedMasks          bool       // tests: keep the masks as set
	drop                bool       // the last forward applied dropout
	t, b                int        // shape of the last chunk
	ids                 []int32
	emb, x0, maskEmb    []float32 // N×ninp: looked up, after dropout, mask
	lay                 []layerAct
	out, maskOut        []float32 // N×nhid: decoder input, its mask
	outBuf              []float32 // N×nhid: the decoder input when it is dropped out
	logits              []float32 // N×ntoken; dlogits after forward
	rowLoss             []float64
	dOut, dH, dIn, dEmb []float32
	dG                  []float32 // N×4nhid
	dh, dc              []float32 // B×nhid
	bias                []float32 // 4nhid: b_ih + b_hh
	s                   f32.GEMM
	whhT                []float32 // W_hhᵀ of the layer being differentiated
}

// layerAct holds what the forward pass of one LSTM layer keeps for the
// backward pass.
type layerAct struct {
	in     []float32 // N×in: the layer's input (after dropout)
	hs, cs []float32 // (T+1)×B×nhid: the initial state, then the state after each step
	gates  []float32 // N×4nhid: i, f, g, o after their nonlinearities
	mask   []float32 // N×nhid: dropout mask on this layer's output when it feeds the next layer
	next   []float32 // N×nhid: that output after dropout
}

// newNet wraps p (used, not copied) for training with dropout p.
func newNet(p *model.Params, dropout float64, seed uint64) *net {
	n := &net{p: p, tied: tiedParams(p), nt: p.NToken, ne: p.NInp, nh: p.NHid, nl: len(p.Layers), dropout: dropout,
		rng: rand.New(rand.NewPCG(seed, 0x64726f706f7574))} // "dropout"
	n.g = zeroLike(p)
	n.lay = make([]layerAct, n.nl)
	return n
}

// tiedParams reports whether p's decoder weight is its encoder weight.
func tiedParams(p *model.Params) bool {
	return len(p.DecoderW) > 0 && len(p.DecoderW) == len(p.Encoder) && &p.DecoderW[0] == &p.Encoder[0]
}

// zeroLike returns zero parameters of p's shapes, tied as p is.
func zeroLike(p *model.Params) *model.Params {
	g := &model.Params{NToken: p.NToken, NInp: p.NInp, NHid: p.NHid,
		Encoder: make([]float32, len(p.Encoder)), DecoderB: make([]float32, len(p.DecoderB))}
	g.DecoderW = g.Encoder
	if !tiedParams(p) {
		g.DecoderW = make([]float32, len(p.DecoderW))
	}
	for _, l := range p.Layers {
		g.Layers = append(g.Layers, model.LayerParams{Wih: make([]float32, len(l.Wih)), Whh: make([]float32, len(l.Whh)),
			Bih: make([]float32, len(l.Bih)), Bhh: make([]float32, len(l.Bhh))})
	}
	return g
}

// tensors returns p's parameter tensors, a tied weight once, in the order
// of PyTorch's model.parameters().
func tensors(p *model.Params) [][]float32 {
	ts := [][]float32{p.Encoder}
	for _, l := range p.Layers {
		ts = append(ts, l.Wih, l.Whh, l.Bih, l.Bhh)
	}
	if !tiedParams(p) {
		ts = append(ts, p.DecoderW)
	}
	return append(ts, p.DecoderB)
}

// forward runs the training forward pass on the chunk ids (t×b, time outer)
// with targets y from state st, which it leaves at the chunk's final state
// (as values: the next chunk's gradient does not reach back into this
// one). It returns the mean cross-entropy
//
//	L = (1/N) Σ_r [log Σ_j exp z_rj − z_r,y_r],  N = t·b,
//
// and leaves dL/dz in n.logits for backward. With train set, dropout masks
// are drawn (inverted dropout: each kept unit is scaled by 1/(1−p)).
func (n *net) forward(ids, y []int32, t, b int, st *model.State, train bool) float64 {
	N := t * b
	n.t, n.b, n.ids = t, b, ids[:N]
	H, E := n.nh, n.ne
	drop := train && n.dropout > 0
	n.drop = drop
	if drop && !n.fixedMasks {
		n.drawMasks(N)
	}

	n.emb = f32.Grow(n.emb, N*E)
	for r, id := range n.ids {
		copy(n.emb[r*E:(r+1)*E], n.p.Encoder[int(id)*E:(int(id)+1)*E])
	}
	x := n.emb
	if drop {
		n.x0 = mulInto(n.x0, n.emb, n.maskEmb[:N*E])
		x = n.x0
	}

	n.bias = f32.Grow(n.bias, 4*H)
	for k := range n.lay {
		la := &n.lay[k]
		lp := &n.p.Layers[k]
		in := E
		if k > 0 {
			in = H
		}
		la.in = x
		la.hs = f32.Grow(la.hs, (t+1)*b*H)
		la.cs = f32.Grow(la.cs, (t+1)*b*H)
		la.gates = f32.Grow(la.gates, N*4*H)
		copy(la.hs[:b*H], st.H[k*b*H:(k+1)*b*H])
		copy(la.cs[:b*H], st.C[k*b*H:(k+1)*b*H])
		for j := range n.bias {
			n.bias[j] = lp.Bih[j] + lp.Bhh[j]
		}
		f32.NewMatrix(lp.Wih, 4*H, in).Mul(n.s.Pool, la.gates, x, N, n.bias)
		whh := f32.NewMatrix(lp.Whh, 4*H, H)
		for s := range t {
			g := la.gates[s*b*4*H : (s+1)*b*4*H]
			whh.MulAdd(n.s.Pool, g, la.hs[s*b*H:(s+1)*b*H], b)
			f32.LSTMCellKeep(g, la.cs[s*b*H:(s+1)*b*H], la.cs[(s+1)*b*H:(s+2)*b*H], la.hs[(s+1)*b*H:(s+2)*b*H], b, H)
		}
		copy(st.H[k*b*H:(k+1)*b*H], la.hs[t*b*H:])
		copy(st.C[k*b*H:(k+1)*b*H], la.cs[t*b*H:])
		x = la.hs[b*H:]
		switch {
		case drop && k < n.nl-1:
			la.next = mulInto(la.next, x, la.mask[:N*H])
			x = la.next
		case drop:
			n.outBuf = mulInto(n.outBuf, x, n.maskOut[:N*H])
			x = n.outBuf
		}
	}
	n.out = x

	n.logits = f32.Grow(n.logits, N*n.nt)
	f32.NewMatrix(n.p.DecoderW, n.nt, H).Mul(n.s.Pool, n.logits, n.out, N, n.p.DecoderB)
	return n.crossEntropy(y[:N])
}

// drawMasks draws the dropout masks of a chunk of N rows, in a fixed order
// from n.rng: embedding, the outputs of layers 0 … nlayers−2, the last
// layer's output.
func (n *net) drawMasks(N int) {
	n.maskEmb = n.fillMask(n.maskEmb, N*n.ne)
	for k := range n.nl - 1 {
		n.lay[k].mask = n.fillMask(n.lay[k].mask, N*n.nh)
	}
	n.maskOut = n.fillMask(n.maskOut, N*n.nh)
}

func (n *net) fillMask(m []float32, size int) []float32 {
	m = f32.Grow(m, size)
	keep := float32(1 / (1 - n.dropout))
	for i := range m {
		if n.rng.Float64() < n.dropout {
			m[i] = 0
		} else {
			m[i] = keep
		}
	}
	return m
}

// mulInto returns dst = x ⊙ m (elementwise), growing dst as needed.
func mulInto(dst, x, m []float32) []float32 {
	dst = f32.Grow(dst, len(m))
	for i, v := range m {
		dst[i] = x[i] * v
	}
	return dst
}

func tanh(x float32) float32 { return float32(math.Tanh(float64(x))) }

// crossEntropy returns the mean cross-entropy of n.logits against y and
// overwrites the logits with its gradient
//
//	dL/dz_rj = (softmax(z_r)_j − [j = y_r]) / N.
func (n *net) crossEntropy(y []int32) float64 {
	N, V := len(y), n.nt
	n.rowLoss = grow64(n.rowLoss, N)
	inv := float32(1 / float64(N))
	n.s.Pool.For(N, 1, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			z := n.logits[r*V : (r+1)*V]
			n.rowLoss[r] = float64(f32.LogSumExp(z)) - float64(z[y[r]])
			f32.Softmax(z, z, 1)
			for j := range z {
				z[j] *= inv
			}
			z[y[r]] -= inv
		}
	})
	var s float64
	for _, l := range n.rowLoss {
		s += l
	}
	return s / float64(N)
}

// backward computes the gradients of the loss of the last forward into n.g
// (overwriting them). The chunk's final state gets no gradient: the state
// is carried to the next chunk as values (truncated backpropagation).
func (n *net) backward() {
	N, H, E, V := n.t*n.b, n.nh, n.ne, n.nt
	dy := n.logits
	g := n.g

	// Decoder: y = x·Wᵀ + b.
	columnSums(n.s.Pool, g.DecoderB, dy, N, V)
	n.s.MulTN(g.DecoderW, dy, n.out, N, V, H, false) // dW = dYᵀ·X (the encoder's gradient too, when tied)
	n.dOut = f32.Grow(n.dOut, N*H)
	n.s.MulNN(n.dOut, dy, n.p.DecoderW, N, V, H, false) // dX = dY·W
	dh := n.dOut
	if n.drop {
		dh = mulInto(n.dOut, n.dOut, n.maskOut[:N*H])
	}

	for k := n.nl - 1; k >= 0; k-- {
		in := E
		if k > 0 {
			in = H
		}
		n.dIn = f32.Grow(n.dIn, N*in)
		n.layerBackward(k, dh, n.dIn, in)
		if k > 0 {
			n.dH = f32.Grow(n.dH, N*H)
			copy(n.dH, n.dIn[:N*H])
			dh = n.dH
			if n.drop {
				dh = mulInto(n.dH, n.dH, n.lay[k-1].mask[:N*H])
			}
		}
	}

	// Embedding: dE[ids[r]] += dEmb[r].
	demb := n.dIn[:N*E]
	if n.drop {
		demb = mulInto(n.dIn, n.dIn, n.maskEmb[:N*E])
	}
	if !n.tied {
		clear(g.Encoder)
	}
	for r, id := range n.ids {
		f32.Axpy(g.Encoder[int(id)*E:(int(id)+1)*E], 1, demb[r*E:(r+1)*E])
	}
}

// layerBackward backpropagates through layer k over the chunk: dh (N×H) is
// dL/dh_t of the layer's outputs, dIn (N×in) receives dL/dx_t. Going back
// from t = T−1 with dh' = dc' = 0, per step:
//
//	δh = dh_t + dh',  τ = tanh(c_t)
//	δo = δh⊙τ,  δc = dc' + δh⊙o⊙(1−τ²)
//	δi = δc⊙g,  δf = δc⊙c_{t−1},  δg = δc⊙i,  dc' = δc⊙f
//	d[ĩ f̃ g̃ õ] = [δi⊙i(1−i), δf⊙f(1−f), δg⊙(1−g²), δo⊙o(1−o)]  (dG_t)
//	dh' = dG_t·W_hh
//
// then dW_ih = Σ_t dG_tᵀ·x_t, dW_hh = Σ_t dG_tᵀ·h_{t−1}, db_ih = db_hh = Σ_t,rows dG_t
// and dx_t = dG_t·W_ih.
func (n *net) layerBackward(k int, dh, dIn []float32, in int) {
	t, b, H := n.t, n.b, n.nh
	N := t * b
	la := &n.lay[k]
	lp := &n.p.Layers[k]
	gp := &n.g.Layers[k]
	n.dG = f32.Grow(n.dG, N*4*H)
	n.dh = f32.Grow(n.dh, b*H)
	n.dc = f32.Grow(n.dc, b*H)
	clear(n.dh)
	clear(n.dc)
	var whhT *f32.Matrix
	if f32.SIMD() {
		n.whhT = f32.Transpose(n.s.Pool, n.whhT, lp.Whh, 4*H, H)
		whhT = f32.NewMatrix(n.whhT, H, 4*H)
	}
	for s := t - 1; s >= 0; s-- {
		gs := la.gates[s*b*4*H : (s+1)*b*4*H]
		dgs := n.dG[s*b*4*H : (s+1)*b*4*H]
		for r := range b {
			gr := gs[r*4*H : (r+1)*4*H]
			dg := dgs[r*4*H : (r+1)*4*H]
			c := la.cs[(s+1)*b*H+r*H : (s+1)*b*H+(r+1)*H]
			cp := la.cs[s*b*H+r*H : s*b*H+(r+1)*H]
			dht := dh[s*b*H+r*H : s*b*H+(r+1)*H]
			dhn := n.dh[r*H : (r+1)*H]
			dcn := n.dc[r*H : (r+1)*H]
			for j := range H {
				ig, fg, gg, og := gr[j], gr[H+j], gr[2*H+j], gr[3*H+j]
				d := dht[j] + dhn[j]
				tc := tanh(c[j])
				do := d * tc
				dc := dcn[j] + d*og*(1-tc*tc)
				dg[j] = dc * gg * ig * (1 - ig)
				dg[H+j] = dc * cp[j] * fg * (1 - fg)
				dg[2*H+j] = dc * ig * (1 - gg*gg)
				dg[3*H+j] = do * og * (1 - og)
				dcn[j] = dc * fg
			}
		}
		if s == 0 {
			break
		}
		if whhT != nil {
			whhT.Mul(n.s.Pool, n.dh, dgs, b, nil)
		} else {
			clear(n.dh)
			f32.MulNNRows(n.dh, dgs, lp.Whh, 4*H, H, 0, b)
		}
	}
	n.s.MulTN(gp.Wih, n.dG, la.in, N, 4*H, in, false)
	n.s.MulTN(gp.Whh, n.dG, la.hs, N, 4*H, H, false)
	columnSums(n.s.Pool, gp.Bih, n.dG, N, 4*H)
	copy(gp.Bhh, gp.Bih)
	n.s.MulNN(dIn, n.dG, lp.Wih, N, 4*H, in, false)
}

// columnSums sets dst[j] = Σ_r a[r*n+j] for a m×n, summing r in order.
func columnSums(pool *parallel.Pool, dst, a []float32, m, n int) {
	pool.For(n, 256, func(lo, hi int) {
		d := dst[lo:hi]
		clear(d)
		for r := range m {
			f32.Axpy(d, 1, a[r*n+lo:r*n+hi])
		}
	})
}

func grow64(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}
