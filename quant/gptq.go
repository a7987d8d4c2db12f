package quant

import (
	"fmt"
	"slices"

	"github.com/lstmq/lstmq/internal/gptq"
)

// lowBitGrid is a low-bit format as GPTQ's grid: a group (a block, or a
// super-block of a _k format) is fitted to its error-updated weights with
// the same search as plain rounding, weighted by the inputs' importances,
// and a weight rounds to the nearest value of its block's grid.
type lowBitGrid struct {
	l   *lowBitData
	imp []float32
}

func (g lowBitGrid) Fit(r, c0 int, w []float32) {
	g.l.fitGroup(r, c0, w, sub(g.imp, c0, c0+len(w)))
}

func (g lowBitGrid) Round(r, c int, v float32) float32 {
	d, m := g.l.block(r, c/lowBlock)
	return d*float32(code(v, d, m, g.l.f.levels())) + m
}

// quantizeGPTQ quantizes target's weights w to f with GPTQ on the
// calibration Hessian of its inputs; imp are the Hessian's diagonal, which
// also weight each group's fit. The codes are those of GPTQ's grid values.
func quantizeGPTQ(w []float32, rows, cols int, f LowBit, imp []float32, target string, cal *Calibration) (*lowBitData, error) {
	h, ok := cal.hess[target]
	if !ok || h.Cols() != cols {
		return nil, fmt.Errorf("no calibration Hessian of %d inputs for %s", cols, target)
	}
	l := newLowBitData(rows, cols, f)
	wq := slices.Clone(w)
	if err := gptq.Quantize(wq, rows, cols, h, l.group(), lowBitGrid{l, imp}); err != nil {
		return nil, fmt.Errorf("gptq: %w", err)
	}
	nb, _ := l.blocks()
	for r := range rows {
		for j := range nb {
			d, m := l.block(r, j)
			for c := j * lowBlock; c < min((j+1)*lowBlock, cols); c++ {
				l.codes[r*cols+c] = code(wq[r*cols+c], d, m, f.levels())
			}
		}
	}
	return l, nil
}
