package f32

// FMA32 returns x·y+z rounded once to float32, as VFMADD231PS computes each
// lane (see fma32): the reference of kernels that accumulate with fused
// multiply-adds.
func FMA32(x, y, z float32) float32 { return fma32(x, y, z) }
