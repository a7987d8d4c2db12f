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
	// AVXVNNI is AVX2 plus the 256-bit VEX VPDPBUSD (AVX-VNNI). Not every
	// AVX-512 CPU has it: as a cap it sits between AVX2 and AVX512.
	AVXVNNI
	// AVX512 needs AVX-512 F, BW, DQ and VL.
	AVX512
	// VNNI needs AVX512 plus AVX512-VNNI (VPDPBUSD on 512 bits).
	VNNI

	// The arm64 levels. They rank among themselves only: a cap naming an
	// amd64 level does not cap them, and the reverse.

	// NEON is arm64's Advanced SIMD (FMLA on 128 bits; every arm64 core).
	NEON
	// DotProd is NEON plus the dot product extension (FEAT_DotProd: SDOT,
	// UDOT).
	DotProd
	// I8MM is DotProd plus the int8 matrix multiply extension (FEAT_I8MM:
	// USMMLA, SMMLA, USDOT, SUDOT).
	I8MM
)

var names = [...]string{"generic", "avx2", "avxvnni", "avx512", "vnni", "neon", "dotprod", "i8mm"}

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
	return 0, fmt.Errorf("unknown CPU level %q (want generic, avx2, avxvnni, avx512, vnni, neon, dotprod or i8mm)", s)
}

// arm reports whether l is one of the arm64 levels.
func (l Level) arm() bool { return l >= NEON }

// Supported is the highest level this processor runs: of Generic, AVX2,
// AVX512 and VNNI on amd64 (AVX-VNNI is reported by Has), of Generic, NEON,
// DotProd and I8MM on arm64.
var Supported = detect()

// Has reports whether this processor runs the kernels of level l.
func Has(l Level) bool {
	if l == Generic {
		return true
	}
	if l.arm() != Supported.arm() {
		return false
	}
	if l == AVXVNNI {
		return Supported >= AVX2 && cpu.X86.HasAVXVNNI
	}
	return l <= Supported
}

// Cap is the highest level LSTMQ_CPU allows (the highest there is when it
// is unset).
var Cap = readCap()

// Allowed reports whether LSTMQ_CPU allows the kernels of level l: l is
// at most Cap, or Cap names a level of the other architecture (which does
// not cap this one's).
func Allowed(l Level) bool {
	switch {
	case l == Generic:
		return true
	case Cap == Generic:
		return false
	case l.arm() != Cap.arm():
		return true
	}
	return l <= Cap
}

func detect() Level {
	if a := cpu.ARM64; a.HasASIMD {
		switch {
		case a.HasASIMDDP && a.HasI8MM:
			return I8MM
		case a.HasASIMDDP:
			return DotProd
		}
		return NEON
	}
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

func readCap() Level {
	s := os.Getenv("LSTMQ_CPU")
	if s == "" {
		return I8MM
	}
	l, err := ParseLevel(s)
	if err != nil {
		fmt.Fprintf(os.Stderr, "lstmq: LSTMQ_CPU: %v; not capping the kernels\n", err)
		return I8MM
	}
	return l
}
