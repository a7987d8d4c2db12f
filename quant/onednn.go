package quant

import (
	"math"

	"github.com/lstmq/lstmq/internal/q8"
	"github.com/lstmq/lstmq/model"
)

// PyTorch's onednn engine (qlinear_dynamic.cpp, PackedLinearWeightsOnednn
// ::apply_dynamic_impl, through ideep's matmul and oneDNN 2.6's reorder and
// int8 GEMM) computes a dynamic quantized Linear as follows, every step
// rounded to float32 unless said otherwise; lstmq follows it bit for bit for
// the reduce_range schemes (pytorch, channel):
//
//	s      = ChooseQuantizationParams scale of [min(x,0), max(x,0)] over [0, 127]   (float64)
//	zp     = its zero point
//	inv_x  = float32(1/s)
//	x_q    = round_half_even(clamp((x·inv_x) + zp, 0, 255))   (a product, then a sum)
//	acc    = Σ_p (x_q − zp)·W_q                                  (exact int32)
//	inv_w  = float32(1/float64(scale)) per tensor, 1/scale_j in float32 per channel
//	sb_j   = inv_x·inv_w_j,  osc_j = 1/sb_j,  bq_j = bias_j·sb_j
//	y      = (float32(acc) + bq_j)·osc_j
//
// The bias is scaled into the accumulator's domain and added before the
// output scale (no fused multiply-add anywhere).

// onednn reports whether a product with w follows the onednn arithmetic:
// reduce_range activations and per-tensor or per-channel weights.
func (q act) onednn(w *Weight) bool { return q.qmax == 127 && w.Block == 0 }

// quantizeOneDNN returns x quantized as oneDNN's reorder does, in a scratch
// buffer of wk, with inv_x and the zero point.
func quantizeOneDNN(wk *model.Work, x []float32) (a []uint8, inv float32, zp int32) {
	lo, hi := q8.MinMax(x)
	s, zp := chooseActivationParams64(lo, hi, 0, 127)
	inv = float32(1 / s)
	z := float32(zp)
	a = wk.Uint8s(len(x))
	for i, v := range x {
		t := float32(v * inv)
		t = float32(t + z)
		switch {
		case !(t >= 0): // and NaN (a model whose weights hold NaN)
			t = 0
		case t > 255:
			t = 255
		}
		a[i] = uint8(math.RoundToEven(float64(t)))
	}
	return a, inv, zp
}

// invScales returns inv_w: one value for a per-tensor weight, one per row
// for a per-channel one, as ideep computes them when it prepacks W.
func invScales(scales []float32) []float32 {
	inv := make([]float32, len(scales))
	if len(scales) == 1 {
		inv[0] = float32(1 / float64(scales[0]))
		return inv
	}
	for j, s := range scales {
		inv[j] = 1 / s
	}
	return inv
}

// oneDNNScales returns, in scratch of wk, the output scales osc_j and the
// scaled biases bq_j (nil without a bias) of a call whose activations have
// inv_x = inv.
func (w *Weight) oneDNNScales(wk *model.Work, inv float32, bias []float32) (osc, bq []float32) {
	osc = wk.Float32s(w.Rows)
	if bias != nil {
		bq = wk.Float32s(w.Rows)
	}
	sc := q8.OneDNNScales{Inv: inv, InvW: w.invScales, Bias: bias}
	sc.Fill(osc, bq, 0, w.Rows)
	return osc, bq
}

// mulOneDNN computes dst (m×Rows) from x_q (m×Cols, a) as the onednn
// engine does, given inv_x and the zero point.
func (w *Weight) mulOneDNN(wk *model.Work, dst []float32, a []uint8, m int, inv float32, zp int32, bias []float32) {
	mk := wk.Mark()
	defer wk.Release(mk)
	// The product fills the scales, each thread its own outputs'.
	sc := q8.OneDNNScales{Inv: inv, InvW: w.invScales, Bias: bias}
	w.kern.(q8Kernel).p.MulU8OneDNNScaled(wk.Pool(), dst, a, m, zp, &sc, wk.Float32s(w.Rows), wk.Float32s(w.Rows))
}
