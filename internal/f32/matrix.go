package f32

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/lstmq/lstmq/internal/cpu"
	"github.com/lstmq/lstmq/internal/parallel"
)

// Matrix is an n×k weight matrix W (n outputs, k inputs, row-major as PyTorch
// stores nn.Linear and nn.LSTM weights), kept in the layout the kernels read.
//
// The SIMD kernels read W in 16-column panels (see the package doc). A
// Matrix used once (as the training code does with weights that change every
// step) packs one block of columns at a time into a reused buffer; on its
// second product it packs all of W once and keeps that copy. So W must not
// change after NewMatrix: make a new Matrix (cheap) instead.
type Matrix struct {
	n, k int
	w    []float32 // row-major n×k, as given

	uses atomic.Int64
	once sync.Once
	p    atomic.Pointer[[]float32] // packed W, once made
}

// packAfter is the product on which a Matrix packs W for good (tests change it).
var packAfter int64 = 2

// NewMatrix wraps w (row-major n×k). It panics if len(w) != n*k.
func NewMatrix(w []float32, n, k int) *Matrix {
	if n < 0 || k < 0 || len(w) != n*k {
		panic("f32: NewMatrix: len(w) != n*k")
	}
	return &Matrix{n: n, k: k, w: w}
}

// packed returns the packed W, making it on the packAfter-th call, or nil
// before that.
func (a *Matrix) packed() []float32 {
	if p := a.p.Load(); p != nil {
		return *p
	}
	if a.uses.Add(1) < packAfter {
		return nil
	}
	a.once.Do(func() {
		p := pack(a.w, a.n, a.k)
		a.p.Store(&p)
	})
	return *a.p.Load()
}

// panelRows returns the rows (64-byte lines) between the starts of two
// panels: k rounded up to an odd number. Kernels read nv panels (and
// prefetch nv more) in lockstep; at an odd line stride these streams fall in
// distinct L1 sets, where a power-of-two stride (k = 256: 16 KB) puts them
// all in one set and thrashes it.
func panelRows(k int) int { return k | 1 }

// pack returns W in 16-column panels starting on a 64-byte boundary.
func pack(w []float32, n, k int) []float32 {
	size := (n + panel - 1) / panel * panel * panelRows(k)
	buf := make([]float32, size+16)
	off := int(uintptr(unsafe.Pointer(&buf[0]))%64) / 4
	if off != 0 {
		off = 16 - off
	}
	p := buf[off : off+size]
	packInto(p, w, n, k)
	return p
}

// packInto writes the n×k row-major w into p in 16-column panels, zero-padded
// to a multiple of 16 columns, with ks = panelRows(k):
//
//	p[(j/16)*16*ks + q*16 + j%16] = w[j*k+q]
func packInto(p, w []float32, n, k int) {
	ks := panelRows(k)
	var rows [panel][]float32
	for j0 := 0; j0 < n; j0 += panel {
		for c := range rows {
			rows[c] = nil
			if j := j0 + c; j < n {
				rows[c] = w[j*k : j*k+k]
			}
		}
		pp := p[j0*ks : j0*ks+panel*k]
		if j0+panel > n {
			clear(pp)
			for c, row := range rows {
				for q, v := range row {
					pp[q*panel+c] = v
				}
			}
			continue
		}
		for q := range k {
			d := pp[q*panel : q*panel+panel : q*panel+panel]
			d[0], d[1], d[2], d[3] = rows[0][q], rows[1][q], rows[2][q], rows[3][q]
			d[4], d[5], d[6], d[7] = rows[4][q], rows[5][q], rows[6][q], rows[7][q]
			d[8], d[9], d[10], d[11] = rows[8][q], rows[9][q], rows[10][q], rows[11][q]
			d[12], d[13], d[14], d[15] = rows[12][q], rows[13][q], rows[14][q], rows[15][q]
		}
	}
}

// panel is the width of a packed panel of W.
const panel = 16

// grain is the column granule of the thread split (a multiple of panel).
const grain = 128

// Output modes of the kernels.
const (
	modeStore = iota // dst = x·Wᵀ
	modeBias         // dst = x·Wᵀ + bias
	modeAdd          // dst += x·Wᵀ
)

// Rows returns n, the number of outputs.
func (a *Matrix) Rows() int { return a.n }

// Cols returns k, the number of inputs.
func (a *Matrix) Cols() int { return a.k }

// Data returns W row-major (n×k).
func (a *Matrix) Data() []float32 { return a.w }

// Mul computes dst = x·Wᵀ + bias for m rows of x:
//
//	dst[i*n+j] = bias[j] + Σ_p x[i*k+p]·W[j*k+p]
//
// bias may be nil (zero). The outputs are split over p's threads (p may be nil);
// the result does not depend on the split.
func (a *Matrix) Mul(p *parallel.Pool, dst, x []float32, m int, bias []float32) {
	a.check(dst, x, m)
	mode := modeStore
	if bias != nil {
		if len(bias) < a.n {
			panic("f32: Mul: short bias")
		}
		mode = modeBias
	}
	a.run(p, dst, x, m, bias, mode)
}

// MulAdd computes dst += x·Wᵀ for m rows of x:
//
//	dst[i*n+j] += Σ_p x[i*k+p]·W[j*k+p]
func (a *Matrix) MulAdd(p *parallel.Pool, dst, x []float32, m int) {
	a.check(dst, x, m)
	a.run(p, dst, x, m, nil, modeAdd)
}

func (a *Matrix) check(dst, x []float32, m int) {
	if m < 0 || len(x) < m*a.k || len(dst) < m*a.n {
		panic("f32: Matrix product: short operand")
	}
}

func (a *Matrix) run(pool *parallel.Pool, dst, x []float32, m int, bias []float32, mode int) {
	if m == 0 || a.n == 0 {
		return
	}
	lv := impl
	var p []float32
	if lv != cpu.Generic && a.k > 0 {
		p = a.packed()
	} else {
		lv = cpu.Generic
	}
	t := product{a: a, lv: lv, p: p, dst: dst, x: x, m: m, bias: bias, mode: mode}
	if pool.Threads() == 1 || a.n <= grain {
		t.Run(0, a.n)
		return
	}
	pt := products.Get().(*product)
	*pt = t
	pool.Run(a.n, grain, pt)
	*pt = product{}
	products.Put(pt)
}

// product holds one call's operands, run over ranges of output columns.
type product struct {
	a         *Matrix
	lv        cpu.Level
	p, dst, x []float32
	m         int
	bias      []float32
	mode      int
}

// Run implements parallel.Task: output columns [lo, hi).
func (t *product) Run(lo, hi int) { t.a.cols(t.lv, t.p, t.dst, t.x, t.m, t.bias, t.mode, lo, hi) }

// products recycles the tasks of parallel products, so that they allocate
// nothing.
var products = sync.Pool{New: func() any { return new(product) }}

// cols computes output columns [lo, hi); lo is a multiple of panel.
func (a *Matrix) cols(lv cpu.Level, p, dst, x []float32, m int, bias []float32, mode int, lo, hi int) {
	switch {
	case lv == cpu.Generic:
		mulGeneric(dst, x, m, a.w, a.n, a.k, lo, hi, bias, mode == modeAdd)
	case p != nil:
		mulPacked(lv, dst, a.n, x, m, p, a.k, lo, hi, bias, mode)
	default:
		mulBlocks(lv, dst, x, m, a.w, a.n, a.k, lo, hi, bias, mode)
	}
}
