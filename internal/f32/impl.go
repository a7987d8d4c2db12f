package f32

import "github.com/lstmq/lstmq/internal/cpu"

// impl is the kernel level in use: cpu.Generic, cpu.AVX2, cpu.AVX512 or
// cpu.NEON, set through Kernels. A Matrix packs W only if impl was not
// generic when it was made.
var impl cpu.Level

// Kernels is the package's family of implementations: "avx512" (also run
// at the vnni level), "avx2" (AVX2 and FMA) on amd64, "neon" (FMLA) on
// arm64, and the reference, "generic". LSTMQ_CPU caps the choice; tests
// select each one.
var Kernels = cpu.Register("f32", func(name string) { impl = levelOf(name) }, impls...)

// levelOf maps an implementation's name to the level its kernels take.
func levelOf(name string) cpu.Level {
	switch name {
	case "avx512":
		return cpu.AVX512
	case "avx2":
		return cpu.AVX2
	case "neon":
		return cpu.NEON
	}
	return cpu.Generic
}

// Level reports the kernel level the package runs.
func Level() cpu.Level { return impl }
