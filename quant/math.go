package quant

import "math"

// eps32 is torch.finfo(torch.float32).eps, the observers' lower bound on a scale.
const eps32 = 0x1p-23

// smallScale is FBGEMM's SMALL_SCALE_THRESHOLD (6.1e-5f).
const smallScale float32 = 6.1e-5

// symmetricScale returns PyTorch's symmetric int8 scale of values whose
// minimum is lo and maximum hi: max(m/127.5, eps) with
// m = max(−min(lo,0), max(hi,0)), in float32 as the observer computes it.
func symmetricScale(lo, hi float32) float32 {
	m := max(-min(lo, 0), max(hi, 0))
	return max(m/127.5, eps32)
}

// quantizeSymmetric writes q[i] = clamp(round_half_even(w[i]·(1/scale)), −128, 127),
// the product in float32 as at::native::quantize_val computes it.
func quantizeSymmetric(q []int8, w []float32, scale float32) {
	inv := 1 / scale
	for i, v := range w {
		r := math.RoundToEven(float64(v * inv))
		q[i] = int8(min(max(r, -128), 127))
	}
}

func minMax(x []float32) (lo, hi float32) {
	if len(x) == 0 {
		return 0, 0
	}
	lo, hi = x[0], x[0]
	for _, v := range x[1:] {
		lo = min(lo, v)
		hi = max(hi, v)
	}
	return lo, hi
}

// QuantizeWeightsPerTensor quantizes w as PyTorch's default dynamic weight
// observer (MinMaxObserver, qint8, per_tensor_symmetric) and
// torch.quantize_per_tensor do:
//
//	scale = max(max(|min(w,0)|, max(w,0)) / 127.5, eps32)
//	q[i]  = clamp(round_half_even(w[i]·float32(1/scale)), −128, 127)
//
// The zero point is 0. q equals PyTorch's int_repr() exactly.
func QuantizeWeightsPerTensor(w []float32) (q []int8, scale float32) {
	lo, hi := minMax(w)
	scale = symmetricScale(lo, hi)
	q = make([]int8, len(w))
	quantizeSymmetric(q, w, scale)
	return q, scale
}

// QuantizeWeightsPerChannel quantizes each of the rows of w (row-major
// rows×len(w)/rows) on its own, as PerChannelMinMaxObserver
// (per_channel_symmetric, ch_axis 0) and torch.quantize_per_channel do:
// scales[r] and the rows of q follow QuantizeWeightsPerTensor's formula.
func QuantizeWeightsPerChannel(w []float32, rows int) (q []int8, scales []float32) {
	return QuantizeWeightsPerBlock(w, rows, 0)
}

// QuantizeWeightsPerBlock quantizes w (row-major rows×k) with one symmetric
// scale per row and per block of block consecutive inputs (the last block of
// a row may be shorter), as GGML's Q8_0 but with PyTorch's rounding:
// scales[r*nb+b], nb = ceil(k/block), is QuantizeWeightsPerTensor's scale of
// w[r, b·block : (b+1)·block]. block ≤ 0 means the whole row (per channel).
func QuantizeWeightsPerBlock(w []float32, rows, block int) (q []int8, scales []float32) {
	if rows <= 0 || len(w)%rows != 0 {
		panic("quant: QuantizeWeightsPerBlock: len(w) is not a multiple of rows")
	}
	k := len(w) / rows
	if block <= 0 || block > k {
		block = max(k, 1)
	}
	nb := (k + block - 1) / block
	q = make([]int8, len(w))
	scales = make([]float32, rows*nb)
	for r := range rows {
		for b := range nb {
			lo, hi := r*k+b*block, r*k+min((b+1)*block, k)
			s := symmetricScale(minMax(w[lo:hi]))
			scales[r*nb+b] = s
			quantizeSymmetric(q[lo:hi], w[lo:hi], s)
		}
	}
	return q, scales
}

// ChooseActivationParams is FBGEMM's ChooseQuantizationParams (as copied in
// PyTorch's quant_utils.h) without preserve_sparsity or power-of-two scales:
// with lo = min(min, 0) and hi = max(max, 0),
//
//	scale = (hi − lo) / (qmax − qmin)          in float64
//	scale = 0.1 if float32(scale) is 0 or its float32 inverse is infinite
//	scale < 6.1e-5: scale = 6.1e-5 and lo, hi stretched by the same factor
//	zp    = qmin − lo/scale or qmax − hi/scale, whichever has the smaller
//	        error term |q| − |r/scale|, clamped to [qmin, qmax] and rounded
//	        half to even
//
// and returns float32(scale) and zp. PyTorch's dynamic modules call it with
// qmin 0 and qmax 255, or 127 with reduce_range.
func ChooseActivationParams(lo, hi float32, qmin, qmax int32) (scale float32, zp int32) {
	s, zp := chooseActivationParams64(lo, hi, qmin, qmax)
	return float32(s), zp
}

// chooseActivationParams64 is ChooseActivationParams with the scale in
// float64, as PyTorch's own copy (QuantUtils.h) keeps it and its oneDNN
// path uses it.
func chooseActivationParams64(lo, hi float32, qmin, qmax int32) (scale float64, zp int32) {
	lo = min(lo, 0)
	hi = max(hi, 0)
	s := (float64(hi) - float64(lo)) / float64(qmax-qmin)
	if float32(s) == 0 || math.IsInf(float64(1/float32(s)), 0) {
		s = 0.1
	}
	if s < float64(smallScale) {
		org := float32(s)
		s = float64(smallScale)
		switch {
		case lo == 0:
			hi = smallScale * float32(qmax-qmin)
		case hi == 0:
			lo = -smallScale * float32(qmax-qmin)
		default:
			amp := smallScale / org
			lo *= amp
			hi *= amp
		}
	}
	fromMin := float64(qmin) - float64(lo)/s
	fromMax := float64(qmax) - float64(hi)/s
	errMin := math.Abs(float64(qmin)) - math.Abs(float64(lo)/s)
	errMax := math.Abs(float64(qmax)) - math.Abs(float64(hi)/s)
	z := fromMax
	if errMin < errMax {
		z = fromMin
	}
	switch {
	case z < float64(qmin):
		zp = qmin
	case z > float64(qmax):
		zp = qmax
	default:
		zp = int32(math.RoundToEven(z))
	}
	return s, zp
}

// quantizeU8 writes dst[i] = clamp(zp + round_half_even(x[i]·inv), 0, qmax),
// at::quantize_per_tensor's formula for quint8 with inv = float32(1/scale).
func quantizeU8(dst []uint8, x []float32, inv float32, zp, qmax int32) {
	for i, v := range x {
		r := int32(math.RoundToEven(float64(v*inv))) + zp
		dst[i] = uint8(min(max(r, 0), qmax))
	}
}

// QuantizeEmbeddingRows quantizes each row of w (row-major rows×dim) to
// uint8 with float qparams, as float_qparams_weight_only_qconfig
// (PerChannelMinMaxObserver, quint8, per_channel_affine_float_qparams) and
// torch.quantize_per_channel do, all in float32:
//
//	scale[r] = (max_r − min_r) / 255, or 1 if that is not above eps32
//	zp[r]    = −min_r / scale[r]
//	q[r,c]   = clamp(round_half_even(w[r,c]·(1/scale[r]) + zp[r]), 0, 255)
//
// (min_r, max_r are the row's own extremes, 0 not included.) A row is read
// back as fma(q, scale, −(zp·scale)).
func QuantizeEmbeddingRows(w []float32, rows int) (q []uint8, scales, zeroPoints []float32) {
	return QuantizeEmbeddingRowsBits(w, rows, 8)
}

// QuantizeEmbeddingRowsBits is QuantizeEmbeddingRows with codes of bits
// bits (2 to 8): 2^bits − 1 in place of 255, PyTorch's quint4x2 and
// quint2x4 row-wise rule for 4 and 2 bits.
func QuantizeEmbeddingRowsBits(w []float32, rows, bits int) (q []uint8, scales, zeroPoints []float32) {
	if rows <= 0 || len(w)%rows != 0 || bits < 2 || bits > 8 {
		panic("quant: QuantizeEmbeddingRowsBits: len(w) is not a multiple of rows, or bits not in [2, 8]")
	}
	levels := float32(int(1)<<bits - 1)
	dim := len(w) / rows
	q = make([]uint8, len(w))
	scales = make([]float32, rows)
	zeroPoints = make([]float32, rows)
	for r := range rows {
		row := w[r*dim : (r+1)*dim]
		lo, hi := minMax(row)
		s := (hi - lo) / levels
		if !(s > eps32) {
			s = 1
		}
		z := -lo / s
		inv := 1 / s
		for c, v := range row {
			// float32(...) keeps the compiler from fusing the multiply-add.
			x := float32(v*inv) + z
			q[r*dim+c] = uint8(min(max(math.RoundToEven(float64(x)), 0), float64(levels)))
		}
		scales[r], zeroPoints[r] = s, z
	}
	return q, scales, zeroPoints
}

// SQNR returns the signal-to-quantization-noise ratio of y against the
// reference x in dB: 10·log10(Σx² / Σ(x−y)²), +Inf when they are equal.
func SQNR(x, y []float32) float64 {
	var sig, noise float64
	for i, v := range x {
		d := float64(v) - float64(y[i])
		sig += float64(v) * float64(v)
		noise += d * d
	}
	if noise == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(sig/noise)
}
