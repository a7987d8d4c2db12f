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
	kind                model.Kind
	tied                bool
	nt, ne, nh, nl, ng  int // ntoken, ninp, nhid, nlayers, gate blocks (kind.Gates())
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
	dG                  []float32 // N×G·nhid: dL/d(the hidden side's pre-activations)
	dP                  []float32 // N×3nhid (GRU): dL/d(W_ih·x + b_ih)
	dh, dc              []float32 // B×nhid
	bias                []float32 // 4nhid (LSTM): b_ih + b_hh
	gh                  []float32 // B×G·nhid (GRU, RNN): W_hh·h + b_hh of one step
	s                   f32.GEMM
	whhT                []float32 // W_hhᵀ of the layer being differentiated
}

// layerAct holds what the forward pass of one recurrent layer keeps for
// the backward pass.
type layerAct struct {
	in     []float32 // N×in: the layer's input (after dropout)
	hs, cs []float32 // (T+1)×B×nhid: the initial state, then the state after each step (cs: LSTM only)
	gates  []float32 // N×G·nhid: LSTM i, f, g, o and GRU r, z, n after their nonlinearities (RNN: unused)
	hn     []float32 // N×nhid (GRU): W_hn·h_{t−1} + b_hn, which r multiplies
	mask   []float32 // N×nhid: dropout mask on this layer's output when it feeds the next layer
	next   []float32 // N×nhid: that output after dropout
}

// newNet wraps p (used, not copied) for training with dropout p.
func newNet(p *model.Params, dropout float64, seed uint64) *net {
	n := &net{p: p, kind: p.Kind, tied: tiedParams(p), nt: p.NToken, ne: p.NInp, nh: p.NHid, nl: len(p.Layers),
		ng: p.Kind.Gates(), dropout: dropout,
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
	g := &model.Params{Kind: p.Kind, NToken: p.NToken, NInp: p.NInp, NHid: p.NHid,
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

	for k := range n.lay {
		la := &n.lay[k]
		lp := &n.p.Layers[k]
		in := E
		if k > 0 {
			in = H
		}
		la.in = x
		la.hs = f32.Grow(la.hs, (t+1)*b*H)
		copy(la.hs[:b*H], st.H[k*b*H:(k+1)*b*H])
		switch n.kind {
		case model.LSTM:
			la.cs = f32.Grow(la.cs, (t+1)*b*H)
			copy(la.cs[:b*H], st.C[k*b*H:(k+1)*b*H])
			n.lstmForward(la, lp, x, in)
			copy(st.C[k*b*H:(k+1)*b*H], la.cs[t*b*H:])
		case model.GRU:
			n.gruForward(la, lp, x, in)
		default:
			n.rnnForward(la, lp, x, in)
		}
		copy(st.H[k*b*H:(k+1)*b*H], la.hs[t*b*H:])
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

// lstmForward runs an LSTM layer over the chunk from the state in la.hs[0]
// and la.cs[0], keeping the gates i, f, g, o after their nonlinearities:
//
//	[ĩ f̃ g̃ õ] = W_ih·x_t + (b_ih + b_hh) + W_hh·h_{t−1}
//	c_t = σ(f̃)⊙c_{t−1} + σ(ĩ)⊙tanh(g̃),  h_t = σ(õ)⊙tanh(c_t)
func (n *net) lstmForward(la *layerAct, lp *model.LayerParams, x []float32, in int) {
	t, b, H := n.t, n.b, n.nh
	N := t * b
	n.bias = f32.Grow(n.bias, 4*H)
	la.gates = f32.Grow(la.gates, N*4*H)
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
}

// gruForward runs a GRU layer over the chunk from the state in la.hs[0],
// as PyTorch computes it, keeping r, z, n in la.gates and W_hn·h + b_hn in
// la.hn:
//
//	P = W_ih·x_t + b_ih  (the whole chunk at once),  Q = W_hh·h_{t−1} + b_hh
//	r = σ(P_r + Q_r),  z = σ(P_z + Q_z),  n = tanh(P_n + r⊙Q_n)
//	h_t = (h_{t−1} − n)⊙z + n  (= (1 − z)⊙n + z⊙h_{t−1})
func (n *net) gruForward(la *layerAct, lp *model.LayerParams, x []float32, in int) {
	t, b, H := n.t, n.b, n.nh
	N := t * b
	la.gates = f32.Grow(la.gates, N*3*H)
	la.hn = f32.Grow(la.hn, N*H)
	n.gh = f32.Grow(n.gh, b*3*H)
	f32.NewMatrix(lp.Wih, 3*H, in).Mul(n.s.Pool, la.gates, x, N, lp.Bih)
	whh := f32.NewMatrix(lp.Whh, 3*H, H)
	for s := range t {
		whh.Mul(n.s.Pool, n.gh, la.hs[s*b*H:(s+1)*b*H], b, lp.Bhh)
		for r := range b {
			row := s*b + r
			g := la.gates[row*3*H : (row+1)*3*H] // P, overwritten by r, z, n
			q := n.gh[r*3*H : (r+1)*3*H]
			hn := la.hn[row*H : (row+1)*H]
			hp := la.hs[row*H : (row+1)*H]
			h := la.hs[(row+b)*H : (row+b+1)*H]
			for j := range H {
				rg := sigmoid(g[j] + q[j])
				zg := sigmoid(g[H+j] + q[H+j])
				ng := tanh(g[2*H+j] + rg*q[2*H+j])
				g[j], g[H+j], g[2*H+j] = rg, zg, ng
				hn[j] = q[2*H+j]
				h[j] = (hp[j]-ng)*zg + ng
			}
		}
	}
}

// rnnForward runs an RNN layer (tanh or relu) over the chunk from the state
// in la.hs[0], in PyTorch's order of additions:
//
//	h_t = act((W_hh·h_{t−1} + b_hh) + (W_ih·x_t + b_ih))
//
// The input side is computed for the whole chunk into la.hs[1:], which each
// step then overwrites with h_t.
func (n *net) rnnForward(la *layerAct, lp *model.LayerParams, x []float32, in int) {
	t, b, H := n.t, n.b, n.nh
	n.gh = f32.Grow(n.gh, b*H)
	f32.NewMatrix(lp.Wih, H, in).Mul(n.s.Pool, la.hs[b*H:], x, t*b, lp.Bih)
	whh := f32.NewMatrix(lp.Whh, H, H)
	for s := range t {
		whh.Mul(n.s.Pool, n.gh, la.hs[s*b*H:(s+1)*b*H], b, lp.Bhh)
		h := la.hs[(s+1)*b*H : (s+2)*b*H]
		for i, v := range h {
			n.gh[i] += v
		}
		if n.kind == model.RNNReLU {
			f32.ReLU(h, n.gh)
		} else {
			f32.TanhTorch(h, n.gh)
		}
	}
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

func sigmoid(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }

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
// from t = T−1 with dh' = 0 (and dc' = 0), each step's pointwise part
// (lstmStepBack, gruStepBack, rnnStepBack) turns δh = dh_t + dh' into the
// gradient dG_t of the hidden side Q = W_hh·h_{t−1} + b_hh (G·H wide) and,
// for the GRU, dP_t of the input side P = W_ih·x_t + b_ih (for the LSTM and
// the RNN, P and Q are summed before any nonlinearity: dP_t = dG_t); then
//
//	dh' = dG_t·W_hh (+ δh⊙z for the GRU)
//
// and over the chunk dW_ih = Σ_t dP_tᵀ·x_t, dW_hh = Σ_t dG_tᵀ·h_{t−1},
// db_ih = Σ_t,rows dP_t, db_hh = Σ_t,rows dG_t and dx_t = dP_t·W_ih.
func (n *net) layerBackward(k int, dh, dIn []float32, in int) {
	t, b, H, G := n.t, n.b, n.nh, n.ng
	N := t * b
	la := &n.lay[k]
	lp := &n.p.Layers[k]
	gp := &n.g.Layers[k]
	gru := n.kind == model.GRU
	n.dG = f32.Grow(n.dG, N*G*H)
	dP := n.dG
	if gru {
		n.dP = f32.Grow(n.dP, N*G*H)
		dP = n.dP
	}
	n.dh = f32.Grow(n.dh, b*H)
	clear(n.dh)
	if n.kind == model.LSTM {
		n.dc = f32.Grow(n.dc, b*H)
		clear(n.dc)
	}
	var whhT *f32.Matrix
	if f32.SIMD() {
		n.whhT = f32.Transpose(n.s.Pool, n.whhT, lp.Whh, G*H, H)
		whhT = f32.NewMatrix(n.whhT, H, G*H)
	}
	for s := t - 1; s >= 0; s-- {
		dgs := n.dG[s*b*G*H : (s+1)*b*G*H]
		dht := dh[s*b*H : (s+1)*b*H]
		switch n.kind {
		case model.LSTM:
			n.lstmStepBack(la, s, dht, dgs)
		case model.GRU:
			n.gruStepBack(la, s, dht, dgs, dP[s*b*G*H:(s+1)*b*G*H])
		default:
			n.rnnStepBack(la, s, dht, dgs)
		}
		if s == 0 {
			break
		}
		// The GRU's n.dh holds δh⊙z already: add to it.
		switch {
		case whhT != nil && gru:
			whhT.MulAdd(n.s.Pool, n.dh, dgs, b)
		case whhT != nil:
			whhT.Mul(n.s.Pool, n.dh, dgs, b, nil)
		default:
			if !gru {
				clear(n.dh)
			}
			f32.MulNNRows(n.dh, dgs, lp.Whh, G*H, H, 0, b)
		}
	}
	n.s.MulTN(gp.Wih, dP, la.in, N, G*H, in, false)
	n.s.MulTN(gp.Whh, n.dG, la.hs, N, G*H, H, false)
	columnSums(n.s.Pool, gp.Bih, dP, N, G*H)
	if gru {
		columnSums(n.s.Pool, gp.Bhh, n.dG, N, G*H)
	} else {
		copy(gp.Bhh, gp.Bih)
	}
	n.s.MulNN(dIn, dP, lp.Wih, N, G*H, in, false)
}

// lstmStepBack is the pointwise part of an LSTM step's backward pass, for
// step s with dht = dL/dh_s from above and n.dh, n.dc = dh', dc' from step
// s+1 (dc' is updated in place):
//
//	δh = dh_t + dh',  τ = tanh(c_t)
//	δo = δh⊙τ,  δc = dc' + δh⊙o⊙(1−τ²)
//	δi = δc⊙g,  δf = δc⊙c_{t−1},  δg = δc⊙i,  dc' = δc⊙f
//	dG_t = [δi⊙i(1−i), δf⊙f(1−f), δg⊙(1−g²), δo⊙o(1−o)]
func (n *net) lstmStepBack(la *layerAct, s int, dht, dgs []float32) {
	b, H := n.b, n.nh
	gs := la.gates[s*b*4*H : (s+1)*b*4*H]
	for r := range b {
		gr := gs[r*4*H : (r+1)*4*H]
		dg := dgs[r*4*H : (r+1)*4*H]
		c := la.cs[(s+1)*b*H+r*H : (s+1)*b*H+(r+1)*H]
		cp := la.cs[s*b*H+r*H : s*b*H+(r+1)*H]
		dhr := dht[r*H : (r+1)*H]
		dhn := n.dh[r*H : (r+1)*H]
		dcn := n.dc[r*H : (r+1)*H]
		for j := range H {
			ig, fg, gg, og := gr[j], gr[H+j], gr[2*H+j], gr[3*H+j]
			d := dhr[j] + dhn[j]
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
}

// gruStepBack is the pointwise part of a GRU step's backward pass, for
// step s with dht = dL/dh_s from above and n.dh = dh' from step s+1, which
// it replaces with the direct part δh⊙z of dL/dh_{t−1}. With
// ñ = P_n + r⊙Q_n (Q_n = W_hn·h_{t−1} + b_hn):
//
//	δh = dh_t + dh'
//	δñ = δh⊙(1−z)⊙(1−n²)
//	δr̃ = δñ⊙Q_n⊙r(1−r),  δz̃ = δh⊙(h_{t−1}−n)⊙z(1−z)
//	dG_t = [δr̃, δz̃, δñ⊙r]  (hidden side),  dP_t = [δr̃, δz̃, δñ]  (input side)
func (n *net) gruStepBack(la *layerAct, s int, dht, dgs, dps []float32) {
	b, H := n.b, n.nh
	for r := range b {
		row := s*b + r
		g := la.gates[row*3*H : (row+1)*3*H]
		hn := la.hn[row*H : (row+1)*H]
		hp := la.hs[row*H : (row+1)*H]
		dhr := dht[r*H : (r+1)*H]
		dhn := n.dh[r*H : (r+1)*H]
		dg := dgs[r*3*H : (r+1)*3*H]
		dp := dps[r*3*H : (r+1)*3*H]
		for j := range H {
			rg, zg, ng := g[j], g[H+j], g[2*H+j]
			d := dhr[j] + dhn[j]
			dn := d * (1 - zg) * (1 - ng*ng)
			dr := dn * hn[j] * rg * (1 - rg)
			dz := d * (hp[j] - ng) * zg * (1 - zg)
			dg[j], dg[H+j], dg[2*H+j] = dr, dz, dn*rg
			dp[j], dp[H+j], dp[2*H+j] = dr, dz, dn
			dhn[j] = d * zg
		}
	}
}

// rnnStepBack is the pointwise part of an RNN step's backward pass, for
// step s with dht = dL/dh_s from above and n.dh = dh' from step s+1:
//
//	dG_t = (dh_t + dh')⊙act'  with act' = 1 − h_t² (tanh), [h_t > 0] (relu)
func (n *net) rnnStepBack(la *layerAct, s int, dht, dgs []float32) {
	b, H := n.b, n.nh
	h := la.hs[(s+1)*b*H : (s+2)*b*H]
	if n.kind == model.RNNReLU {
		for i, v := range h {
			if v > 0 {
				dgs[i] = dht[i] + n.dh[i]
			} else {
				dgs[i] = 0
			}
		}
		return
	}
	for i, v := range h {
		dgs[i] = (dht[i] + n.dh[i]) * (1 - v*v)
	}
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
