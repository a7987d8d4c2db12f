package quant

import (
	"fmt"
	"math"
	"strconv"

	"github.com/lstmq/lstmq/internal/f16"
	"github.com/lstmq/lstmq/internal/f32"
	"github.com/lstmq/lstmq/model"
)

// Block sizes of the low-bit formats.
const (
	lowBlock   = 32  // inputs per block (per sub-block of a super-block)
	superBlock = 256 // inputs per super-block of the _k formats
	subMax     = 63  // the largest 6-bit block scale or minimum of a _k format
)

// LowBit is a block-wise weight format of Bits bits per code (2 ≤ Bits ≤ 8).
// Every weight is stored as an unsigned code u ∈ [0, 2^Bits − 1] and reads
// back as d_j·u + m_j, with d_j and m_j those of its block j of 32
// consecutive inputs of a row:
//
//	q{b}_0  symmetric, d_j an fp16 scale, m_j = −2^(b−1)·d_j (GGML's Q4_0)
//	q{b}_1  affine, d_j and m_j fp16 (GGML's Q4_1)
//	q{b}_k  super-blocks of 256 inputs with fp16 D and M: d_j = D·s_j and
//	        m_j = −M·n_j, s_j and n_j 6-bit integers per block (GGML's Q4_K)
//
// The fitted d_j and m_j minimise the block's squared error, weighted by an
// importance per input when one is given (llama.cpp's imatrix), over a small
// grid of candidate scales (fit.go).
type LowBit struct {
	Bits int
	Kind byte // '0', '1' or 'k'
}

// parseLowBit reads a low-bit format name, "q4_0", "q3_k" and so on.
func parseLowBit(name string) (LowBit, bool) {
	if len(name) != 4 || name[0] != 'q' || name[2] != '_' {
		return LowBit{}, false
	}
	b, k := int(name[1]-'0'), name[3]
	if b < 2 || b > 8 || (k != '0' && k != '1' && k != 'k') {
		return LowBit{}, false
	}
	return LowBit{Bits: b, Kind: k}, true
}

func (f LowBit) String() string { return "q" + strconv.Itoa(f.Bits) + "_" + string(f.Kind) }

// levels is the largest code, 2^Bits − 1.
func (f LowBit) levels() int { return 1<<f.Bits - 1 }

// half is 2^(Bits−1), the code of zero under q{b}_0.
func (f LowBit) half() int { return 1 << (f.Bits - 1) }

// lowBitData is a matrix in a LowBit format as its file stores it.
type lowBitData struct {
	f          LowBit
	rows, cols int
	codes      []uint8  // rows×cols codes u
	d, m       []uint16 // fp16 per block (rows×nb: _0 d only, _1 both) or per super-block (_k, rows×nsb)
	s, n       []uint8  // _k: 6-bit scale and minimum per block, rows×nb
}

// blocks returns the number of 32-input blocks and of super-blocks per row.
func (l *lowBitData) blocks() (nb, nsb int) {
	return (l.cols + lowBlock - 1) / lowBlock, (l.cols + superBlock - 1) / superBlock
}

// block returns d_j and m_j of row r's block j.
func (l *lowBitData) block(r, j int) (d, m float32) {
	nb, nsb := l.blocks()
	switch l.f.Kind {
	case '0':
		d = f16.ToFloat32(l.d[r*nb+j])
		return d, -float32(l.f.half()) * d
	case '1':
		return f16.ToFloat32(l.d[r*nb+j]), f16.ToFloat32(l.m[r*nb+j])
	}
	sb := r*nsb + j*lowBlock/superBlock
	return f16.ToFloat32(l.d[sb]) * float32(l.s[r*nb+j]), -(f16.ToFloat32(l.m[sb]) * float32(l.n[r*nb+j]))
}

// dequantize returns d_j·u + m_j for every weight, row-major.
func (l *lowBitData) dequantize() []float32 {
	nb, _ := l.blocks()
	out := make([]float32, l.rows*l.cols)
	for r := range l.rows {
		for j := range nb {
			d, m := l.block(r, j)
			for c := j * lowBlock; c < min((j+1)*lowBlock, l.cols); c++ {
				out[r*l.cols+c] = d*float32(l.codes[r*l.cols+c]) + m
			}
		}
	}
	return out
}

// weight returns the Weight that runs l on the int8 block kernels: code
// q = u − 2^(b−1), scale d_j and offset o_j = m_j + 2^(b−1)·d_j per block,
// so that d_j·q + o_j = d_j·u + m_j. The symmetric q{b}_0 has no offsets.
func (l *lowBitData) weight() (*Weight, error) {
	nb, _ := l.blocks()
	h := l.f.half()
	q := make([]int8, len(l.codes))
	for i, u := range l.codes {
		if int(u) > l.f.levels() {
			return nil, fmt.Errorf("quant: %s code %d out of range", l.f, u)
		}
		q[i] = int8(int(u) - h)
	}
	scales := make([]float32, l.rows*nb)
	var offsets []float32
	if l.f.Kind != '0' {
		offsets = make([]float32, l.rows*nb)
	}
	for r := range l.rows {
		for j := range nb {
			d, m := l.block(r, j)
			if math.IsInf(float64(d), 0) || math.IsNaN(float64(d)) || math.IsInf(float64(m), 0) || math.IsNaN(float64(m)) {
				return nil, fmt.Errorf("quant: %s row %d block %d: scale %v and minimum %v are not finite", l.f, r, j, d, m)
			}
			scales[r*nb+j] = d
			if offsets != nil {
				offsets[r*nb+j] = m + float32(h)*d
			}
		}
	}
	w := &Weight{Rows: l.rows, Cols: l.cols, Scales: scales, Block: lowBlock, Offsets: offsets, low: l}
	w.kern = newKernel(w, q)
	if offsets != nil {
		w.offsets = f32.NewMatrix(offsets, l.rows, nb)
	}
	return w, nil
}

// quantizeLowBit quantizes w (row-major rows×cols) to f; imp (len cols, or
// nil for uniform) weights each input's squared error.
func quantizeLowBit(w []float32, rows, cols int, f LowBit, imp []float32) *lowBitData {
	l := newLowBitData(rows, cols, f)
	for r := range rows {
		l.fitRow(r, w[r*cols:(r+1)*cols], imp)
	}
	return l
}

// newLowBitData returns an all-zero rows×cols matrix of format f.
func newLowBitData(rows, cols int, f LowBit) *lowBitData {
	l := &lowBitData{f: f, rows: rows, cols: cols, codes: make([]uint8, rows*cols)}
	nb, nsb := l.blocks()
	switch f.Kind {
	case '0':
		l.d = make([]uint16, rows*nb)
	case '1':
		l.d, l.m = make([]uint16, rows*nb), make([]uint16, rows*nb)
	default:
		l.d, l.m = make([]uint16, rows*nsb), make([]uint16, rows*nsb)
		l.s, l.n = make([]uint8, rows*nb), make([]uint8, rows*nb)
	}
	return l
}

// group is the inputs whose parameters are fitted together: a block, or a
// super-block of a _k format.
func (l *lowBitData) group() int {
	if l.f.Kind == 'k' {
		return superBlock
	}
	return lowBlock
}

// fitRow fits row r's blocks to the weights row and sets its codes.
func (l *lowBitData) fitRow(r int, row, imp []float32) {
	for c0 := 0; c0 < l.cols; c0 += l.group() {
		c1 := min(c0+l.group(), l.cols)
		l.fitGroup(r, c0, row[c0:c1], sub(imp, c0, c1))
	}
	nb, _ := l.blocks()
	for j := range nb {
		lo, hi := j*lowBlock, min((j+1)*lowBlock, l.cols)
		d, m := l.block(r, j)
		codes := l.codes[r*l.cols+lo : r*l.cols+hi]
		for c, v := range row[lo:hi] {
			codes[c] = code(v, d, m, l.f.levels())
		}
	}
}

// fitGroup sets the parameters of row r's group starting at input c0 (a
// multiple of l.group()) to fit its weights w, imp their importances (or
// nil).
func (l *lowBitData) fitGroup(r, c0 int, w, imp []float32) {
	nb, nsb := l.blocks()
	j0 := c0 / lowBlock
	switch l.f.Kind {
	case '0':
		l.d[r*nb+j0] = f16.FromFloat32(fitSymmetric(w, imp, l.f.half()))
	case '1':
		d, m := fitAffine(w, imp, l.f.levels(), false)
		l.d[r*nb+j0], l.m[r*nb+j0] = f16.FromFloat32(d), f16.FromFloat32(m)
	default:
		var ds, ms [superBlock / lowBlock]float32
		var dMax, mMax float32
		for i, lo := 0, 0; lo < len(w); i, lo = i+1, lo+lowBlock {
			hi := min(lo+lowBlock, len(w))
			d, m := fitAffine(w[lo:hi], sub(imp, lo, hi), l.f.levels(), true)
			ds[i], ms[i] = d, -m
			dMax, mMax = max(dMax, d), max(mMax, -m)
		}
		D, M := f16.ToFloat32(f16.FromFloat32(dMax/subMax)), f16.ToFloat32(f16.FromFloat32(mMax/subMax))
		sb := r*nsb + c0/superBlock
		l.d[sb], l.m[sb] = f16.FromFloat32(D), f16.FromFloat32(M)
		for i := range (len(w) + lowBlock - 1) / lowBlock {
			l.s[r*nb+j0+i], l.n[r*nb+j0+i] = sixBit(ds[i], D), sixBit(ms[i], M)
		}
	}
}

// sixBit returns round(v/unit) clamped to [0, 63] (0 when unit is 0).
func sixBit(v, unit float32) uint8 {
	if !(unit > 0) {
		return 0
	}
	return uint8(min(max(math.RoundToEven(float64(v/unit)), 0), subMax))
}

// code returns the code u ∈ [0, levels] nearest to v on the grid d·u + m
// (round half to even). A block with d = 0 is constant, m everywhere: its
// code is 0, or the middle code 2^(b−1) when m is 0 too (an all-zero
// block, which then also reads back as 0 in q8's centred int8).
func code(v, d, m float32, levels int) uint8 {
	if d == 0 {
		if m == 0 {
			return uint8((levels + 1) / 2)
		}
		return 0
	}
	u := math.RoundToEven(float64((v - m) / d))
	return uint8(min(max(u, 0), float64(levels)))
}

// sub returns imp[lo:hi], or nil for a nil imp.
func sub(imp []float32, lo, hi int) []float32 {
	if imp == nil {
		return nil
	}
	return imp[lo:hi]
}

// addOffsets adds the low-bit offsets' share of the product to dst:
// dst[i,j] += Σ_b o_{j,b}·(sa·Σ_{p∈b}(a[i,p] − za)), the activations'
// dequantized block sums (exact integer sums, one float product) times
// the offsets, through the float32 kernel.
func (w *Weight) addOffsets(wk *model.Work, dst []float32, a []uint8, m int, sa float32, za int32) {
	nb := w.offsets.Cols()
	sums := wk.Float32s(m * nb)
	for i := range m {
		row := a[i*w.Cols : (i+1)*w.Cols]
		for b := range nb {
			lo, hi := b*lowBlock, min((b+1)*lowBlock, w.Cols)
			s := int32(0)
			for _, v := range row[lo:hi] {
				s += int32(v)
			}
			sums[i*nb+b] = sa * float32(s-int32(hi-lo)*za)
		}
	}
	w.offsets.MulAdd(wk.Pool(), dst[:m*w.Rows], sums, m)
}

// mulDequant runs w's product on activations a (scale sa, zero point za):
// the kernel's block-scaled sums, then the offsets of an affine low-bit
// format.
func (w *Weight) mulDequant(wk *model.Work, dst []float32, a []uint8, m int, sa float32, za int32, bias []float32) {
	w.kern.mulDequant(wk, dst, a, m, sa, za, bias)
	if w.offsets != nil {
		mk := wk.Mark()
		w.addOffsets(wk, dst, a, m, sa, za)
		wk.Release(mk)
	}
}
