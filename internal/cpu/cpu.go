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
)

var names = [...]string{"generic", "avx2", "avxvnni", "avx512", "vnni"}

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
	return 0, fmt.Errorf("unknown CPU level %q (want generic, avx2, avxvnni, avx512 or vnni)", s)
}

// Supported is the highest of Generic, AVX2, AVX512 and VNNI this
// processor runs (AVX-VNNI is reported by Has).
var Supported = detect()

// Has reports whether this processor runs the kernels of level l.
func Has(l Level) bool {
	if l == AVXVNNI {
		return Supported >= AVX2 && cpu.X86.HasAVXVNNI
	}
	return l <= Supported
}

// Cap is the highest level LSTMQ_CPU allows (VNNI when it is unset).
var Cap = readCap()

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

func readCap() Level {
	s := os.Getenv("LSTMQ_CPU")
	if s == "" {
		return VNNI
	}
	l, err := ParseLevel(s)
	if err != nil {
		fmt.Fprintf(os.Stderr, "lstmq: LSTMQ_CPU: %v; not capping the kernels\n", err)
		return VNNI
	}
	return l
}
