package gptq

import "math"

// invCholUpper returns U, the upper triangular n×n matrix with positive
// diagonal such that H⁻¹ = Uᵀ·U, for a symmetric positive definite H
// (n×n, row-major). It overwrites the upper triangle of h with R, the upper
// triangular factor of H = R·Rᵀ, computed from the last index down:
//
//	R[j][j] = √(H[j][j] − Σ_{k>j} R[j][k]²)
//	R[i][j] = (H[i][j] − Σ_{k>j} R[i][k]·R[j][k]) / R[j][j]   for i < j,
//
// and returns U = R⁻¹ (then H⁻¹ = R⁻ᵀ·R⁻¹ = Uᵀ·U, and the factor is unique):
//
//	U[i][i] = 1/R[i][i]
//	U[i][j] = −(Σ_{i<k≤j} R[i][k]·U[k][j]) / R[i][i]   for j > i.
//
// If a pivot H[j][j] − Σ R[j][k]² is not positive (or NaN), it returns nil
// and j.
func invCholUpper(h []float64, n int) (u []float64, bad int) {
	for j := n - 1; j >= 0; j-- {
		rj := h[j*n+j+1 : j*n+n]
		d := h[j*n+j] - dot(rj, rj)
		if !(d > 0) {
			return nil, j
		}
		d = math.Sqrt(d)
		h[j*n+j] = d
		for i := range j {
			ri := h[i*n+j+1 : i*n+n]
			h[i*n+j] = (h[i*n+j] - dot(ri, rj)) / d
		}
	}
	u = make([]float64, n*n)
	for i := n - 1; i >= 0; i-- {
		ui := u[i*n : i*n+n]
		for k := i + 1; k < n; k++ {
			axpy(h[i*n+k], u[k*n+k:k*n+n], ui[k:])
		}
		f := -1 / h[i*n+i]
		for j := i + 1; j < n; j++ {
			ui[j] *= f
		}
		ui[i] = 1 / h[i*n+i]
	}
	return u, -1
}

// dot returns Σ x[i]·y[i]; y is at least as long as x.
func dot(x, y []float64) float64 {
	y = y[:len(x)]
	var s0, s1 float64
	i := 0
	for ; i+2 <= len(x); i += 2 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
	}
	if i < len(x) {
		s0 += x[i] * y[i]
	}
	return s0 + s1
}

// axpy does y[i] += a·x[i]; y is at least as long as x.
func axpy(a float64, x, y []float64) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}
