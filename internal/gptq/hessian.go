package gptq

import (
	"errors"
	"fmt"
	"math"
)

// A Hessian accumulates H = 2·XᵀX/N over batches of a layer's inputs X
// (N samples × cols). It holds the plain sum S = Σ xᵀx (its upper triangle,
// in float64) and the sample count, and scales on demand, so the order of
// the batches changes only the rounding. It is not safe for concurrent use.
type Hessian struct {
	cols int
	n    int
	s    []float64 // cols×cols, row-major; s[i*cols+j] for j ≥ i only
	x64  []float64 // 4×cols scratch: the samples being added
}

// NewHessian returns an empty accumulator for inputs of cols features.
func NewHessian(cols int) (*Hessian, error) {
	if cols < 1 {
		return nil, fmt.Errorf("gptq: Hessian of %d columns", cols)
	}
	if cols > math.MaxInt/cols {
		return nil, fmt.Errorf("gptq: Hessian of %d columns is too large", cols)
	}
	return &Hessian{cols: cols, s: make([]float64, cols*cols), x64: make([]float64, 4*cols)}, nil
}

// Cols returns the number of input features.
func (h *Hessian) Cols() int { return h.cols }

// Samples returns the number of samples added.
func (h *Hessian) Samples() int { return h.n }

// Add adds m samples, x holding them as m rows of Cols() float32 values.
// It refuses a wrong length and non-finite values, and then adds nothing.
func (h *Hessian) Add(x []float32, m int) error {
	if m < 0 || m > 0 && len(x)/m != h.cols || len(x) != m*h.cols {
		return fmt.Errorf("gptq: Hessian.Add: %d values for %d samples of %d columns", len(x), m, h.cols)
	}
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("gptq: Hessian.Add: sample %d column %d is %v", i/h.cols, i%h.cols, v)
		}
	}
	cols := h.cols
	for k := 0; k < m; k += 4 {
		nk := min(4, m-k)
		for p := range nk * cols {
			h.x64[p] = float64(x[k*cols+p])
		}
		clear(h.x64[nk*cols:])
		h.addRows()
	}
	h.n += m
	return nil
}

// addRows adds the four samples in x64 (unused ones zero) to the upper
// triangle of s:
//
//	s[i][j] += Σ_k x_k[i]·x_k[j]   for j ≥ i.
func (h *Hessian) addRows() {
	cols := h.cols
	x0, x1, x2, x3 := h.x64[:cols], h.x64[cols:2*cols], h.x64[2*cols:3*cols], h.x64[3*cols:4*cols]
	for i := range cols {
		a0, a1, a2, a3 := x0[i], x1[i], x2[i], x3[i]
		if a0 == 0 && a1 == 0 && a2 == 0 && a3 == 0 {
			continue
		}
		row := h.s[i*cols+i : i*cols+cols]
		y0, y1, y2, y3 := x0[i:], x1[i:], x2[i:], x3[i:]
		y0, y1, y2, y3 = y0[:len(row)], y1[:len(row)], y2[:len(row)], y3[:len(row)]
		for j := range row {
			row[j] += a0*y0[j] + a1*y1[j] + a2*y2[j] + a3*y3[j]
		}
	}
}

// Matrix returns a new cols×cols row-major copy of H = 2·S/N, or nil if no
// sample was added.
func (h *Hessian) Matrix() []float64 {
	if h.n == 0 {
		return nil
	}
	cols := h.cols
	f := 2 / float64(h.n)
	out := make([]float64, cols*cols)
	for i := range cols {
		for j := i; j < cols; j++ {
			v := f * h.s[i*cols+j]
			out[i*cols+j] = v
			out[j*cols+i] = v
		}
	}
	return out
}

// Diag returns a new copy of H's diagonal, 2·Σ x_i²/N: twice llama.cpp's
// importance matrix entry, an importance for FitScale. It is nil if no
// sample was added.
func (h *Hessian) Diag() []float64 {
	if h.n == 0 {
		return nil
	}
	f := 2 / float64(h.n)
	out := make([]float64, h.cols)
	for i := range out {
		out[i] = f * h.s[i*h.cols+i]
	}
	return out
}

// ErrNotPositiveDefinite is the kind of error Quantize returns when the
// damped Hessian has no Cholesky factorization; more damping (WithDamp)
// or more calibration samples may help.
var ErrNotPositiveDefinite = errors.New("gptq: Hessian is not positive definite")
