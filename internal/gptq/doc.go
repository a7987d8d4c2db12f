// Package gptq quantizes a weight matrix with GPTQ (Frantar et al. 2022,
// "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained
// Transformers"): the columns are rounded one at a time, and each column's
// rounding error is spread over the columns not yet rounded so that the
// layer's output on calibration inputs changes as little as possible.
//
// # Layout
//
// W is rows×cols, row-major, one row per output and one column per input
// (PyTorch's Linear layout): y = W·x. The calibration inputs X are N×cols,
// one sample a row. The grid a weight is rounded onto is the caller's (a
// Grid), fitted per row and per group of group consecutive columns, because
// it depends on the storage format (a scale per 32 inputs, a scale and a
// minimum, super-blocks, ...).
//
// # Hessian
//
// A Hessian accumulates S = Σ xᵀx over the samples, in float64, and gives
//
//	H = 2·S/N,
//
// the Hessian of the squared output error Σ_s ‖(W−Q)·x_s‖²/N with respect to
// each row of W. gptq.py keeps a running mean instead (H ← H·n/(n+m) +
// 2/(n+m)·XᵀX); the two agree up to rounding.
//
// # Algorithm
//
// Quantize follows gptq.py's fasterquant. An input whose H[i][i] is 0 is
// dead: H[i][i] = 1 and W[:, i] = 0. The diagonal is damped, H += λ·I with
// λ = damp·mean(diag H) (damp 0.01 by default, gptq.py's percdamp), and
// U is the upper Cholesky factor of H⁻¹ (H⁻¹ = UᵀU). Then, for every row w
// and every column i in order,
//
//	q_i = Round(w_i)
//	e   = (w_i − q_i) / U[i][i]
//	w_j -= e·U[i][j]   for j > i,
//
// which is the optimal (OBS) update of the remaining columns for the error
// of column i. The updates are batched as in gptq.py: a column's error is
// applied at once only to the rest of its block of columns (128 by
// default), and a block's errors E to the columns after it together, as
// one product W[:, i2:] −= E·U[i1:i2, i2:]. Batching changes only the
// summation order. Rows are independent; they are processed 32 at a time,
// in float64.
//
// U is computed without forming H⁻¹: if H = R·Rᵀ with R upper triangular
// (a Cholesky factorization taken from the last index), then H⁻¹ =
// R⁻ᵀ·R⁻¹ and U = R⁻¹, the same factor gptq.py gets from cholesky,
// cholesky_inverse and cholesky(upper=True). If the damped H is not
// positive definite, Quantize returns an error that is
// ErrNotPositiveDefinite; it does not retry with more damping (the caller
// can, with WithDamp).
//
// # Groups
//
// Without act-order, a group's grid is fitted lazily, when its first
// column c0 comes up, on the row's current weights: every update from the
// columns before c0 applied (gptq.py's static_groups=False). gptq.py itself
// fits on its outer copy of W, which misses the updates made inside the
// current block when a group starts inside one; the two agree when the
// group size is a multiple of the block size. Here a block is cut short
// where needed so that every fit sees current weights, whatever the block
// size.
//
// With act-order (WithActOrder), the columns are taken in order of
// decreasing H[i][i], and every group's grid is fitted before any column is
// rounded, on the weights with dead inputs zeroed (gptq.py's
// static_groups=True), so that groups stay runs of consecutive inputs, as
// block formats need.
//
// # Round-to-nearest and error
//
// RoundToNearest rounds every weight onto the same Grid with no error
// feedback. OutputError gives trace((W−Q)·H·(W−Q)ᵀ) = 2/N·Σ_s ‖(W−Q)·x_s‖²,
// the output squared error on the calibration inputs, by which the two are
// compared. FitScale chooses an importance-weighted symmetric scale for one
// block (llama.cpp's imatrix idea), for a Grid's Fit.
//
// Everything is pure Go, single-threaded, and computed in float64; the
// weights and grid values are float32.
package gptq
