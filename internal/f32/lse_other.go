//go:build !(amd64 || arm64) || purego

package f32

// Without SIMD kernels LogSumExpPortable runs the reference.

func portableSIMD() bool { return false }

func maxPortable(x []float32) float32 { return maxGeneric(x) }

func sumExpPortable(x []float32, sub float32) float64 { return cephesSumExp(x, sub) }
