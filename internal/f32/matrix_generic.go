package f32

// mulGeneric computes output columns [lo, hi) of dst = x·Wᵀ (+bias) or dst += x·Wᵀ.
func mulGeneric(dst, x []float32, m int, w []float32, n, k, lo, hi int, bias []float32, accumulate bool) {
	for i := range m {
		xi := x[i*k : i*k+k]
		di := dst[i*n : i*n+n]
		for j := lo; j < hi; j++ {
			s := dotGeneric(xi, w[j*k:j*k+k])
			switch {
			case accumulate:
				di[j] += s
			case bias != nil:
				di[j] = s + bias[j]
			default:
				di[j] = s
			}
		}
	}
}

// dotGeneric returns Σ x[i]·y[i], accumulated in float32 in index order.
func dotGeneric(x, y []float32) float32 {
	var s float32
	for i, v := range x {
		s += v * y[i]
	}
	return s
}
