// Package cpu reads the processor's SIMD features once and decides which
// kernel family lstmq runs. LSTMQ_CPU=generic|avx2|avx512|vnni caps the
// choice (for tests and benchmarks); it can only lower what the CPU offers.
package cpu

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/cpu"
)

// Level is a family of kernels, ordered: each level's kernels need the
// instructions of the ones below it.
type Level int

const (
	// Generic is the pure-Go reference.
	Generic Level = iota
	// AVX2 needs AVX2 and FMA (VFMADD231PS, VPMADDUBSW, VPMADDWD).
	AVX2
	// AVX512 needs AVX-512 F, BW, DQ and VL.
	AVX512
	// VNNI needs AVX512 plus AVX512-VNNI (VPDPBUSD on 512 bits).
	VNNI
)

var names = [...]string{"generic", "avx2", "avx512", "vnni"}

func (l Level) String() string {
	if l < 0 || int(l) >= len(names) {
		return fmt.Sprintf("Level(%d)", int(l))
	}
	return names[l]
}

// ParseLevel parses a level name as LSTMQ_CPU spells it.
func ParseLevel(s string) (Level, error) {
	for i, n := range names {
		if strings.EqualFold(s, n) {
			return Level(i), nil
		}
	}
	return 0, fmt.Errorf("unknown CPU level %q (want generic, avx2, avx512 or vnni)", s)
}

// Supported is the highest level this processor runs.
var Supported = detect()

// AVXVNNI reports the 256-bit VEX-encoded VPDPBUSD (AVX-VNNI), which some
// int8 kernels use at the AVX2 level when present.
var AVXVNNI = cpu.X86.HasAVXVNNI

// Active is the level the kernels use: Supported, lowered by LSTMQ_CPU.
// Kernel packages read it once at init.
var Active = active()

func detect() Level {
	x := cpu.X86
	switch {
	case x.HasAVX512F && x.HasAVX512BW && x.HasAVX512DQ && x.HasAVX512VL && x.HasAVX512VNNI:
		return VNNI
	case x.HasAVX512F && x.HasAVX512BW && x.HasAVX512DQ && x.HasAVX512VL:
		return AVX512
	case x.HasAVX2 && x.HasFMA:
		return AVX2
	}
	return Generic
}

func active() Level {
	s := os.Getenv("LSTMQ_CPU")
	if s == "" {
		return Supported
	}
	l, err := ParseLevel(s)
	if err != nil {
		fmt.Fprintf(os.Stderr, "lstmq: LSTMQ_CPU: %v; using %v\n", err, Supported)
		return Supported
	}
	return min(l, Supported)
}
