package f16

import (
	"sync"
	"unsafe"

	"github.com/lstmq/lstmq/internal/cpu"
	"github.com/lstmq/lstmq/internal/parallel"
)

// Matrix is an n×k weight matrix W (n outputs, k inputs) of 16-bit floats,
// packed in 16-column panels (see the package doc). It is immutable and safe
// for concurrent use.
type Matrix struct {
	n, k, ks int
	f        Format
	p        []uint16 // packed panels
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

// panelStride returns ks: k rounded up to an even number whose half is
// odd, so that panels start an odd number of 64-byte lines apart.
func panelStride(k int) int {
	ks := (k + 1) &^ 1
	if (ks/2)%2 == 0 {
		ks += 2
	}
	return ks
}

// NewMatrix packs w (row-major n×k, bits of format f). It panics if
// len(w) != n*k. w is not kept.
func NewMatrix(w []uint16, n, k int, f Format) *Matrix {
	if n < 0 || k < 0 || len(w) != n*k {
		panic("f16: NewMatrix: len(w) != n*k")
	}
	ks := panelStride(k)
	size := (n + panel - 1) / panel * panel * ks
	buf := make([]uint16, size+32)
	off := int(uintptr(unsafe.Pointer(&buf[0]))%64) / 2
	if off != 0 {
		off = 32 - off
	}
	p := buf[off : off+size : off+size]
	for j := range n {
		pp := p[j/panel*panel*ks+j%panel:]
		for q, v := range w[j*k : j*k+k] {
			pp[q*panel] = v
		}
	}
	return &Matrix{n: n, k: k, ks: ks, f: f, p: p}
}

// Round rounds w (row-major n×k) to format f and packs it: FP16 with
// SaturateFP16 (no weight becomes infinite), BF16 with FromFloat32BF16.
func Round(w []float32, n, k int, f Format) *Matrix {
	if len(w) != n*k {
		panic("f16: Round: len(w) != n*k")
	}
	h := make([]uint16, len(w))
	for i, v := range w {
		if f == BF16 {
			h[i] = FromFloat32BF16(v)
		} else {
			h[i] = SaturateFP16(v)
		}
	}
	return NewMatrix(h, n, k, f)
}

// Rows returns n, the number of outputs.
func (a *Matrix) Rows() int { return a.n }

// Cols returns k, the number of inputs.
func (a *Matrix) Cols() int { return a.k }

// Format returns the weights' format.
func (a *Matrix) Format() Format { return a.f }

// Bits returns W row-major (n×k) as 16-bit patterns, a new slice.
func (a *Matrix) Bits() []uint16 {
	out := make([]uint16, a.n*a.k)
	for j := range a.n {
		pp := a.p[j/panel*panel*a.ks+j%panel:]
		for q := range a.k {
			out[j*a.k+q] = pp[q*panel]
		}
	}
	return out
}

// Float32 returns W row-major (n×k) converted to float32, a new slice.
func (a *Matrix) Float32() []float32 {
	out := make([]float32, a.n*a.k)
	for i, h := range a.Bits() {
		out[i] = a.f.ToFloat32(h)
	}
	return out
}

// Mul computes dst = x·Wᵀ + bias for m rows of x (m×k), dst m×n:
//
//	dst[i*n+j] = s + bias[j],  s = fma-accumulated Σ_p x[i*k+p]·W[j,p] (package doc)
//
// bias may be nil (dst = s). The outputs are split over p's threads (p may
// be nil); the result depends neither on the split nor on the kernels.
func (a *Matrix) Mul(p *parallel.Pool, dst, x []float32, m int, bias []float32) {
	a.check(dst, x, m)
	mode := modeStore
	if bias != nil {
		if len(bias) < a.n {
			panic("f16: Mul: short bias")
		}
		mode = modeBias
	}
	a.run(p, dst, x, m, bias, mode)
}

// MulAdd computes dst += x·Wᵀ for m rows of x: dst[i*n+j] += s.
func (a *Matrix) MulAdd(p *parallel.Pool, dst, x []float32, m int) {
	a.check(dst, x, m)
	a.run(p, dst, x, m, nil, modeAdd)
}

func (a *Matrix) check(dst, x []float32, m int) {
	if m < 0 || len(x) < m*a.k || len(dst) < m*a.n {
		panic("f16: Matrix product: short operand")
	}
}

func (a *Matrix) run(pool *parallel.Pool, dst, x []float32, m int, bias []float32, mode int) {
	if m == 0 || a.n == 0 {
		return
	}
	t := product{a: a, simd: simd && a.k > 0, dst: dst, x: x, m: m, bias: bias, mode: mode}
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
	a      *Matrix
	simd   bool
	dst, x []float32
	m      int
	bias   []float32
	mode   int
}

// Run implements parallel.Task: output columns [lo, hi), lo a multiple of panel.
func (t *product) Run(lo, hi int) {
	a := t.a
	if t.simd {
		mulPacked(a, t.dst, t.x, t.m, lo, hi, t.bias, t.mode)
		return
	}
	mulGeneric(a, t.dst, t.x, t.m, lo, hi, t.bias, t.mode)
}

// products recycles the tasks of parallel products, so that they allocate
// nothing.
var products = sync.Pool{New: func() any { return new(product) }}

// simd is set when a SIMD implementation is selected.
var simd bool

// Kernels is the package's family of implementations: "avx2" (AVX2, FMA
// and F16C) and the reference, "generic". LSTMQ_CPU caps the choice; tests
// select each one.
var Kernels = cpu.Register("f16", func(name string) { simd = name != "generic" }, impls...)
