// Package cpu reads the processor's SIMD features once and decides which
// kernels lstmq runs. Each kernel package registers its implementations (a
// Family, as Go's crypto packages register theirs); LSTMQ_CPU=
// generic|avx2|avxvnni|avx512|vnni (amd64) or generic|neon|dotprod|i8mm
// (arm64) caps every family at that level (for tests and benchmarks): it
// can only lower what the CPU offers. A level of the other architecture
// does not cap.
package cpu
