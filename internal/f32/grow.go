package f32

// Grow returns s with length n, reusing its memory when its capacity allows
// (the contents are then s's old values, not zeros), else a new zeroed
// slice. Layers use it for scratch buffers so that steady-state calls
// allocate nothing.
func Grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}
