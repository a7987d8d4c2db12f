package gptq

import (
	"fmt"
	"math"
	"slices"
)

// A Grid fixes the quantization grid of each row's groups of weights and
// rounds onto it. The caller supplies it, because the grid depends on the
// storage format.
//
// Without act-order, Quantize calls Fit(r, c0, ...) for a group of row r
// after every Round of row r's group before it and before any Round in the
// group, so a Grid may keep one current group per row; calls for different
// rows interleave in no set order. With act-order, Fit is called for every
// group of every row before the first Round, and Round(r, c, ...) must use
// the grid of the group holding column c.
type Grid interface {
	// Fit chooses the grid of row r's group starting at column c0
	// (c0 % group == 0) from w, the group's current weights
	// w[c0 : min(c0+group, cols)], with all error updates from the columns
	// before it applied. It must not modify w or keep it.
	Fit(r, c0 int, w []float32)
	// Round returns the grid value for v in row r, column c: for
	// round-to-nearest, the grid value nearest to v.
	Round(r, c int, v float32) float32
}

// An Option changes a setting of Quantize.
type Option func(*options)

type options struct {
	damp     float64
	block    int
	actOrder bool
}

// WithDamp sets the damping added to H's diagonal to frac·mean(diag H);
// the default is 0.01 (gptq.py's percdamp). frac must be finite and ≥ 0.
func WithDamp(frac float64) Option { return func(o *options) { o.damp = frac } }

// WithBlock sets the number of columns whose updates are batched, 128 by
// default; n must be ≥ 1. It changes the speed, and the results only by
// rounding.
func WithBlock(n int) Option { return func(o *options) { o.block = n } }

// WithActOrder takes the columns in order of decreasing H[i][i], with every
// group's grid fitted before the first column is rounded. Off by default.
func WithActOrder(on bool) Option { return func(o *options) { o.actOrder = on } }

// chunkRows is the number of rows Quantize holds in float64 at a time.
// Rows are independent; a chunk's block of weights stays in cache while the
// rows of U it needs are read once for all of its rows.
const chunkRows = 32

// Quantize rounds w (rows×cols, row-major, one row per output) onto g's
// grid with GPTQ, using h, the Hessian of the layer's inputs, and groups of
// group consecutive columns (a group ≥ cols is one group per row). w is
// overwritten with the grid values. The weights and the Hessian must be
// finite. See the package documentation for the algorithm.
//
// It returns an error, leaving w untouched, for wrong lengths or sizes,
// group < 1, a nil h or g, an h without samples or of another width, a bad
// option or a non-finite weight; and an error that is
// ErrNotPositiveDefinite if the damped Hessian is not positive definite.
func Quantize(w []float32, rows, cols int, h *Hessian, group int, g Grid, opts ...Option) error {
	if err := checkArgs("Quantize", w, rows, cols, group, g); err != nil {
		return err
	}
	if h == nil {
		return fmt.Errorf("gptq: Quantize: nil Hessian")
	}
	if h.cols != cols {
		return fmt.Errorf("gptq: Quantize: Hessian of %d columns for a matrix of %d", h.cols, cols)
	}
	if h.n == 0 {
		return fmt.Errorf("gptq: Quantize: Hessian without samples")
	}
	o := options{damp: 0.01, block: 128}
	for _, opt := range opts {
		opt(&o)
	}
	if !(o.damp >= 0) || math.IsInf(o.damp, 0) {
		return fmt.Errorf("gptq: Quantize: damping %v", o.damp)
	}
	if o.block < 1 {
		return fmt.Errorf("gptq: Quantize: block of %d columns", o.block)
	}
	if err := checkFinite("Quantize", w, cols); err != nil {
		return err
	}
	group, o.block = min(group, cols), min(o.block, cols)

	hm := h.Matrix()
	var dead []int
	for i := range cols {
		if hm[i*cols+i] == 0 {
			hm[i*cols+i] = 1
			dead = append(dead, i)
		}
	}
	perm := make([]int, cols)
	for i := range perm {
		perm[i] = i
	}
	if o.actOrder {
		slices.SortStableFunc(perm, func(a, b int) int {
			da, db := hm[a*cols+a], hm[b*cols+b]
			switch {
			case da > db:
				return -1
			case da < db:
				return 1
			}
			return 0
		})
		hp := make([]float64, cols*cols)
		for i, pi := range perm {
			for j, pj := range perm {
				hp[i*cols+j] = hm[pi*cols+pj]
			}
		}
		hm = hp
	}
	var mean float64
	for i := range cols {
		mean += hm[i*cols+i]
	}
	damp := o.damp * mean / float64(cols)
	if math.IsInf(damp+mean, 0) {
		return fmt.Errorf("gptq: Quantize: damping %g·mean(diag H) overflows", o.damp)
	}
	for i := range cols {
		hm[i*cols+i] += damp
	}
	u, bad := invCholUpper(hm, cols)
	if u == nil {
		return fmt.Errorf("%w: the pivot of input %d is not positive after damping %g·mean(diag H) (raise WithDamp)",
			ErrNotPositiveDefinite, perm[bad], o.damp)
	}
	for r := range rows {
		for _, i := range dead {
			w[r*cols+i] = 0
		}
	}

	fit := make([]float32, group)
	if o.actOrder {
		for r := range rows {
			for c0 := 0; c0 < cols; c0 += group {
				f := fit[:copy(fit, w[r*cols+c0:r*cols+min(c0+group, cols)])]
				g.Fit(r, c0, f)
			}
		}
	}
	q := quantizer{
		cols: cols, group: group, g: g, u: u, perm: perm, static: o.actOrder,
		ends: blockEnds(cols, o.block, group, o.actOrder),
		wk:   make([]float64, chunkRows*cols),
		ek:   make([]float64, chunkRows*o.block),
		fit:  fit,
	}
	for r0 := 0; r0 < rows; r0 += chunkRows {
		q.rows(w, r0, min(chunkRows, rows-r0))
	}
	return nil
}

// blockEnds splits the columns into batches of at most block columns. With
// lazily fitted groups (static false), a batch ends early at a group start
// c0 whose group reaches past the batch, so that the columns a Fit sees
// have every update applied.
func blockEnds(cols, block, group int, static bool) []int {
	var ends []int
	for i1 := 0; i1 < cols; {
		i2 := i1 + min(block, cols-i1)
		if !static {
			for c0 := (i1/group + 1) * group; c0 < i2; c0 += group {
				if min(c0+group, cols) > i2 {
					i2 = c0
					break
				}
			}
		}
		ends = append(ends, i2)
		i1 = i2
	}
	return ends
}

// A quantizer holds one Quantize call's factor and scratch.
type quantizer struct {
	cols, group int
	g           Grid
	u           []float64 // cols×cols, upper Cholesky factor of H⁻¹, permuted order
	perm        []int     // column i of the permuted order is input perm[i]
	static      bool      // groups fitted before the loop (act-order)
	ends        []int     // the batches' end columns
	wk          []float64 // chunkRows×cols: the chunk's current weights, permuted order
	ek          []float64 // chunkRows×block: the batch's scaled errors e
	fit         []float32 // a group's current weights, for Fit
}

// rows quantizes rows r0..r0+nr−1 of w.
func (q *quantizer) rows(w []float32, r0, nr int) {
	cols, u, perm := q.cols, q.u, q.perm
	wk := q.wk[:nr*cols]
	for r := range nr {
		src := w[(r0+r)*cols : (r0+r+1)*cols]
		dst := wk[r*cols : (r+1)*cols]
		for i, p := range perm {
			dst[i] = float64(src[p])
		}
	}
	i1 := 0
	for _, i2 := range q.ends {
		nb := i2 - i1
		ek := q.ek[:nr*nb]
		for r := range nr {
			wr := wk[r*cols : (r+1)*cols]
			er := ek[r*nb : (r+1)*nb]
			out := w[(r0+r)*cols : (r0+r+1)*cols]
			// The block's columns in batches of up to 4, each batch ending
			// where a group starts, so that Fit sees current weights.
			for m1 := i1; m1 < i2; {
				m2 := min(m1+4, i2)
				if !q.static {
					m2 = min(m2, (m1/q.group+1)*q.group)
					if m1%q.group == 0 {
						cur := wr[m1:min(m1+q.group, cols)]
						f := q.fit[:len(cur)]
						for j, v := range cur {
							f[j] = float32(v)
						}
						q.g.Fit(r0+r, m1, f)
					}
				}
				for i := m1; i < m2; i++ {
					v := wr[i]
					c := perm[i]
					qv := q.g.Round(r0+r, c, float32(v))
					out[c] = qv
					ui := u[i*cols : i*cols+m2]
					e := (v - float64(qv)) / ui[i]
					er[i-i1] = e
					for j := i + 1; j < m2; j++ {
						wr[j] -= e * ui[j]
					}
				}
				if m2 < i2 {
					rest := wr[m2:i2]
					if m2-m1 == 4 {
						e := er[m1-i1 : m1-i1+4]
						b := m1*cols + m2
						sub4(rest, e[0], e[1], e[2], e[3], u[b:], u[b+cols:], u[b+2*cols:], u[b+3*cols:])
					} else {
						for k := m1; k < m2; k++ {
							axpy(-er[k-i1], u[k*cols+m2:k*cols+i2], rest)
						}
					}
				}
				m1 = m2
			}
		}
		if i2 < cols {
			updateTail(wk, nr, cols, ek, nb, u, i1, i2)
		}
		i1 = i2
	}
}

// updateTail applies a batch's errors to the columns after it:
//
//	wk[r][j] −= Σ_{k<nb} ek[r][k]·u[i1+k][j]   for r < nr, i2 ≤ j < cols,
//
// four rows of u at a time, each kept in cache across the chunk's rows.
func updateTail(wk []float64, nr, cols int, ek []float64, nb int, u []float64, i1, i2 int) {
	k := 0
	for ; k+4 <= nb; k += 4 {
		b := (i1+k)*cols + i2
		u0, u1, u2, u3 := u[b:b+cols-i2], u[b+cols:], u[b+2*cols:], u[b+3*cols:]
		for r := range nr {
			e := ek[r*nb+k : r*nb+k+4]
			sub4(wk[r*cols+i2:r*cols+cols], e[0], e[1], e[2], e[3], u0, u1, u2, u3)
		}
	}
	for ; k < nb; k++ {
		uk := u[(i1+k)*cols+i2 : (i1+k+1)*cols]
		for r := range nr {
			axpy(-ek[r*nb+k], uk, wk[r*cols+i2:r*cols+cols])
		}
	}
}

// sub4 does w[j] −= e0·u0[j] + e1·u1[j] + e2·u2[j] + e3·u3[j]; the u are
// at least as long as w.
func sub4(w []float64, e0, e1, e2, e3 float64, u0, u1, u2, u3 []float64) {
	u0, u1, u2, u3 = u0[:len(w)], u1[:len(w)], u2[:len(w)], u3[:len(w)]
	for j := range w {
		w[j] -= e0*u0[j] + e1*u1[j] + e2*u2[j] + e3*u3[j]
	}
}

// RoundToNearest rounds every weight of w (rows×cols, row-major) onto g's
// grid, fitted on each group of group consecutive columns of each row, with
// no error feedback: for each row r and group start c0,
// Fit(r, c0, w[r][c0:c0+group]) and then w[r][c] = Round(r, c, w[r][c]) for
// each column c of the group (Fit is given a part of w). It returns an
// error, leaving w untouched, for the bad arguments Quantize refuses.
func RoundToNearest(w []float32, rows, cols, group int, g Grid) error {
	if err := checkArgs("RoundToNearest", w, rows, cols, group, g); err != nil {
		return err
	}
	if err := checkFinite("RoundToNearest", w, cols); err != nil {
		return err
	}
	group = min(group, cols)
	for r := range rows {
		for c0 := 0; c0 < cols; c0 += group {
			seg := w[r*cols+c0 : r*cols+min(c0+group, cols)]
			g.Fit(r, c0, seg)
			for j, v := range seg {
				seg[j] = g.Round(r, c0+j, v)
			}
		}
	}
	return nil
}

// OutputError returns trace((W−Q)·H·(W−Q)ᵀ) for W = w and Q = wq (both
// rows×cols, row-major), H = 2·XᵀX/N from h: 2/N·Σ_s ‖(W−Q)·x_s‖², twice
// the mean squared error of the layer's outputs on the calibration samples.
// Dead inputs do not count.
func OutputError(w, wq []float32, rows, cols int, h *Hessian) (float64, error) {
	if rows < 1 || cols < 1 || rows > math.MaxInt/cols {
		return 0, fmt.Errorf("gptq: OutputError: matrix of %d×%d", rows, cols)
	}
	if len(w) != rows*cols || len(wq) != rows*cols {
		return 0, fmt.Errorf("gptq: OutputError: %d and %d weights for %d×%d", len(w), len(wq), rows, cols)
	}
	if h == nil || h.cols != cols || h.n == 0 {
		return 0, fmt.Errorf("gptq: OutputError: no Hessian of %d columns with samples", cols)
	}
	d := make([]float64, cols)
	var total float64
	for r := range rows {
		for j := range d {
			d[j] = float64(w[r*cols+j]) - float64(wq[r*cols+j])
		}
		for i, di := range d {
			if di == 0 {
				continue
			}
			row := h.s[i*cols+i : (i+1)*cols]
			total += di * (row[0]*di + 2*dot(row[1:], d[i+1:]))
		}
	}
	return 2 / float64(h.n) * total, nil
}

func checkArgs(fn string, w []float32, rows, cols, group int, g Grid) error {
	if rows < 1 || cols < 1 || rows > math.MaxInt/cols {
		return fmt.Errorf("gptq: %s: matrix of %d×%d", fn, rows, cols)
	}
	if len(w) != rows*cols {
		return fmt.Errorf("gptq: %s: %d weights for %d×%d", fn, len(w), rows, cols)
	}
	if group < 1 {
		return fmt.Errorf("gptq: %s: group of %d columns", fn, group)
	}
	if g == nil {
		return fmt.Errorf("gptq: %s: nil Grid", fn)
	}
	return nil
}

func checkFinite(fn string, w []float32, cols int) error {
	for i, v := range w {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("gptq: %s: weight [%d][%d] is %v", fn, i/cols, i%cols, v)
		}
	}
	return nil
}
