package f32

import (
	"github.com/lstmq/lstmq/internal/cpu"
	"github.com/lstmq/lstmq/internal/parallel"
)

// The training products (the backward pass's). Each has a pure-Go
// cache-blocked loop (the reference, split over output rows with the
// caller's pool), run by the generic implementation, and a path through the
// SIMD kernels (Matrix.MulAdd on transposed operands). In both, every output
// is summed in a fixed order (the reduction index ascending, in blocks), so
// results do not depend on the thread count.

// SIMD reports whether the products run on SIMD kernels (false with the
// generic implementation).
func SIMD() bool { return impl != cpu.Generic }

// Block sizes of the Go loops: rowBlock output rows per task, redBlock
// reduction indices per pass (redBlock rows of the right operand, k wide,
// stay in L2 while rowBlock output rows, k wide, stay in L1).
const (
	rowBlock = 4
	redBlock = 128
)

// GEMM runs the training products on a pool, with the transposed operands
// of the kernel path reused from call to call. It is not safe for
// concurrent use.
type GEMM struct {
	Pool   *parallel.Pool // nil: one thread
	at, bt []float32
}

// MulNN computes dst = a·b, or dst += a·b if acc, for a m×n and b n×k
// (row-major):
//
//	dst[i*k+p] (+)= Σ_j a[i*n+j]·b[j*k+p]
func (s *GEMM) MulNN(dst, a, b []float32, m, n, k int, acc bool) {
	if len(dst) < m*k || len(a) < m*n || len(b) < n*k {
		panic("f32: MulNN: short operand")
	}
	if m == 0 || k == 0 {
		return
	}
	if !acc {
		clear(dst[:m*k])
	}
	if n == 0 {
		return
	}
	if SIMD() {
		// a·b = a·(bᵀ)ᵀ: f32.Matrix.MulAdd with W = bᵀ (k×n).
		s.bt = Transpose(s.Pool, s.bt, b, n, k)
		NewMatrix(s.bt, k, n).MulAdd(s.Pool, dst, a, m)
		return
	}
	s.Pool.For(m, rowBlock, func(lo, hi int) { MulNNRows(dst, a, b, n, k, lo, hi) })
}

// MulNNRows computes rows [lo, hi) of dst += a·b.
func MulNNRows(dst, a, b []float32, n, k, lo, hi int) {
	for j0 := 0; j0 < n; j0 += redBlock {
		j1 := min(j0+redBlock, n)
		i := lo
		for ; i+4 <= hi; i += 4 {
			d0 := dst[i*k : i*k+k]
			d1 := dst[(i+1)*k : (i+1)*k+k]
			d2 := dst[(i+2)*k : (i+2)*k+k]
			d3 := dst[(i+3)*k : (i+3)*k+k]
			for j := j0; j < j1; j++ {
				a0, a1, a2, a3 := a[i*n+j], a[(i+1)*n+j], a[(i+2)*n+j], a[(i+3)*n+j]
				if a0 == 0 && a1 == 0 && a2 == 0 && a3 == 0 {
					continue
				}
				row := b[j*k : j*k+k]
				for p, w := range row {
					d0[p] += a0 * w
					d1[p] += a1 * w
					d2[p] += a2 * w
					d3[p] += a3 * w
				}
			}
		}
		for ; i < hi; i++ {
			d := dst[i*k : i*k+k]
			for j := j0; j < j1; j++ {
				if a0 := a[i*n+j]; a0 != 0 {
					Axpy(d, a0, b[j*k:j*k+k])
				}
			}
		}
	}
}

// MulTN computes dst = aᵀ·b, or dst += aᵀ·b if acc, for a m×n and b m×k
// (row-major), dst n×k:
//
//	dst[j*k+p] (+)= Σ_i a[i*n+j]·b[i*k+p]
//
// It is the weight gradient dW = dYᵀ·X of y = x·Wᵀ.
func (s *GEMM) MulTN(dst, a, b []float32, m, n, k int, acc bool) {
	if len(dst) < n*k || len(a) < m*n || len(b) < m*k {
		panic("f32: MulTN: short operand")
	}
	if n == 0 || k == 0 {
		return
	}
	if !acc {
		clear(dst[:n*k])
	}
	if m == 0 {
		return
	}
	if SIMD() {
		// aᵀ·b = aᵀ·(bᵀ)ᵀ: f32.Matrix.MulAdd with W = bᵀ (k×m), x = aᵀ (n×m).
		s.at = Transpose(s.Pool, s.at, a, m, n)
		s.bt = Transpose(s.Pool, s.bt, b, m, k)
		w := NewMatrix(s.bt, k, m)
		// MulAdd splits its k outputs over threads in 128-column blocks,
		// unevenly for k = 200; split the n rows too.
		s.Pool.For(n, 64, func(lo, hi int) { w.MulAdd(nil, dst[lo*k:hi*k], s.at[lo*m:hi*m], hi-lo) })
		return
	}
	s.Pool.For(n, rowBlock, func(lo, hi int) { mulTNRows(dst, a, b, m, n, k, lo, hi) })
}

// mulTNRows computes rows [lo, hi) of dst += aᵀ·b.
func mulTNRows(dst, a, b []float32, m, n, k, lo, hi int) {
	for i0 := 0; i0 < m; i0 += redBlock {
		i1 := min(i0+redBlock, m)
		j := lo
		for ; j+4 <= hi; j += 4 {
			d0 := dst[j*k : j*k+k]
			d1 := dst[(j+1)*k : (j+1)*k+k]
			d2 := dst[(j+2)*k : (j+2)*k+k]
			d3 := dst[(j+3)*k : (j+3)*k+k]
			for i := i0; i < i1; i++ {
				ai := a[i*n+j : i*n+j+4]
				a0, a1, a2, a3 := ai[0], ai[1], ai[2], ai[3]
				if a0 == 0 && a1 == 0 && a2 == 0 && a3 == 0 {
					continue
				}
				row := b[i*k : i*k+k]
				for p, w := range row {
					d0[p] += a0 * w
					d1[p] += a1 * w
					d2[p] += a2 * w
					d3[p] += a3 * w
				}
			}
		}
		for ; j < hi; j++ {
			d := dst[j*k : j*k+k]
			for i := i0; i < i1; i++ {
				if a0 := a[i*n+j]; a0 != 0 {
					Axpy(d, a0, b[i*k:i*k+k])
				}
			}
		}
	}
}

// Axpy computes y += a·x.
func Axpy(y []float32, a float32, x []float32) {
	y = y[:len(x)]
	for p, v := range x {
		y[p] += a * v
	}
}

// Transpose returns the k×m transpose of a (m×k row-major) in dst, which
// it grows as needed: dst[p*m+i] = a[i*k+p]. It works in tb×tb tiles, eight
// rows of a at a time, split over threads by columns of a.
func Transpose(pool *parallel.Pool, dst, a []float32, m, k int) []float32 {
	dst = Grow(dst, m*k)
	const tb = 64
	pool.For(k, tb, func(lo, hi int) {
		for p0 := lo; p0 < hi; p0 += tb {
			p1 := min(p0+tb, hi)
			i := 0
			for ; i+8 <= m; i += 8 {
				r0 := a[i*k+p0 : i*k+p1]
				r1 := a[(i+1)*k+p0 : (i+1)*k+p1]
				r2 := a[(i+2)*k+p0 : (i+2)*k+p1]
				r3 := a[(i+3)*k+p0 : (i+3)*k+p1]
				r4 := a[(i+4)*k+p0 : (i+4)*k+p1]
				r5 := a[(i+5)*k+p0 : (i+5)*k+p1]
				r6 := a[(i+6)*k+p0 : (i+6)*k+p1]
				r7 := a[(i+7)*k+p0 : (i+7)*k+p1]
				for q := range r0 {
					o := (p0+q)*m + i
					d := dst[o : o+8 : o+8]
					d[0], d[1], d[2], d[3] = r0[q], r1[q], r2[q], r3[q]
					d[4], d[5], d[6], d[7] = r4[q], r5[q], r6[q], r7[q]
				}
			}
			for ; i < m; i++ {
				r := a[i*k+p0 : i*k+p1]
				for q, v := range r {
					dst[(p0+q)*m+i] = v
				}
			}
		}
	})
	return dst
}
