//go:build !purego

package f32

import (
	"sync"

	"github.com/lstmq/lstmq/internal/cpu"
)

// maxMR is the most rows of x a micro-kernel handles.
const maxMR = 6

// impls are the SIMD implementations, best first (cpu.Register): NEON
// (FMLA), which every arm64 core has. The pointwise kernels (cell updates,
// exp, softmax) run their pure-Go references on arm64.
var impls = []cpu.Impl{{Name: "neon", Level: cpu.NEON}}

// tileWidths lists the panel counts of the tiles used for m rows, widest
// first: 16 accumulators for one or two rows, 4·m (up to 24) for more.
func tileWidths(lv cpu.Level, m int) []int {
	switch m {
	case 1:
		return []int{4, 2, 1}
	case 2:
		return []int{2, 1}
	}
	return []int{1}
}

func tile(lv cpu.Level, mr, nv int, dst *float32, ldd int, x *float32, ldx int, w *float32, k, ks int, bias *float32, mode int) {
	if !gemmNEON(mr, nv, dst, ldd, x, ldx, w, k, ks, bias, nil, 0, mode) {
		panic("f32: no micro-kernel for this tile")
	}
}

// blockCols is the number of columns mulBlocks packs at a time.
const blockCols = 128

var scratch = sync.Pool{New: func() any { return new([]float32) }}

// mulBlocks computes output columns [lo, hi) of x·Wᵀ from the row-major w,
// packing blockCols columns at a time into a pooled buffer (no allocation in
// steady state); the kernels and so the results are those of mulPacked.
func mulBlocks(lv cpu.Level, dst, x []float32, m int, w []float32, n, k, lo, hi int, bias []float32, mode int) {
	sp := scratch.Get().(*[]float32)
	size := blockCols * panelRows(k)
	if cap(*sp) < size {
		*sp = make([]float32, size)
	}
	buf := (*sp)[:size]
	for j0 := lo; j0 < hi; j0 += blockCols {
		nc := min(blockCols, hi-j0)
		packInto(buf, w[j0*k:(j0+nc)*k], nc, k)
		var b []float32
		if bias != nil {
			b = bias[j0:]
		}
		mulPacked(lv, dst[j0:], n, x, m, buf[:(nc+panel-1)/panel*panel*panelRows(k)], k, 0, nc, b, mode)
	}
	scratch.Put(sp)
}

// mulPacked computes output columns [lo, hi) of x·Wᵀ from the packed panels
// wp into dst (row stride ldd), k ≥ 1, lo a multiple of panel. Column blocks
// are the outer loop, so each block of W is read from memory once and reused
// for all m rows (as on amd64, without software prefetch).
func mulPacked(lv cpu.Level, dst []float32, ldd int, x []float32, m int, wp []float32, k, lo, hi int, bias []float32, mode int) {
	nb := (m + maxMR - 1) / maxMR // row tiles, sized evenly
	ks := panelRows(k)
	full := lo + (hi-lo)&^(panel-1)
	j := lo
	for _, nv := range tileWidths(lv, m) {
		for ; j+nv*panel <= full; j += nv * panel {
			var bj *float32
			if mode == modeBias {
				bj = &bias[j]
			}
			for b, i0 := 0, 0; b < nb; b++ {
				mr := (m - i0 + nb - b - 1) / (nb - b)
				tile(lv, mr, nv, &dst[i0*ldd+j], ldd, &x[i0*k], k, &wp[j*ks], k, ks, bj, mode)
				i0 += mr
			}
		}
	}
	if full == hi {
		return
	}
	// The last, partial panel: compute 16 columns into tmp, keep hi−full.
	var tmp [maxMR * panel]float32
	for b, i0 := 0, 0; b < nb; b++ {
		mr := (m - i0 + nb - b - 1) / (nb - b)
		tile(lv, mr, 1, &tmp[0], panel, &x[i0*k], k, &wp[full*ks], k, ks, nil, modeStore)
		for r := range mr {
			d := dst[(i0+r)*ldd+full : (i0+r)*ldd+hi]
			s := tmp[r*panel : r*panel+len(d)]
			switch mode {
			case modeStore:
				copy(d, s)
			case modeBias:
				for q := range d {
					d[q] = s[q] + bias[full+q]
				}
			default:
				for q := range d {
					d[q] += s[q]
				}
			}
		}
		i0 += mr
	}
}
