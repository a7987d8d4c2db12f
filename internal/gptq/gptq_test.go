package gptq

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// symGrid is the fixture's grid (testdata/gen_gptq.py, SymGrid): per row
// and group, s = max|w|/7 in float64 of the float32 weights (1 for a group
// of zeros), q = clamp(roundHalfEven(v/s), −8, 7), value float32(q·s).
type symGrid struct {
	group, groups int
	scale         []float64 // rows×groups
}

func newSymGrid(rows, cols, group int) *symGrid {
	group = min(group, cols)
	groups := (cols + group - 1) / group
	return &symGrid{group: group, groups: groups, scale: make([]float64, rows*groups)}
}

func (g *symGrid) Fit(r, c0 int, w []float32) {
	var amax float32
	for _, v := range w {
		amax = max(amax, float32(math.Abs(float64(v))))
	}
	s := float64(amax) / 7
	if s == 0 {
		s = 1
	}
	g.scale[r*g.groups+c0/g.group] = s
}

func (g *symGrid) Round(r, c int, v float32) float32 {
	s := g.scale[r*g.groups+c/g.group]
	q := max(-8, min(7, math.RoundToEven(float64(v)/s)))
	return float32(q * s)
}

type fixture struct {
	Rows, Cols, N int
	Dead          []int
	Margin        float64
	W, X          []float64
	GPTQ          []struct {
		Name        string
		Block       int
		Group       int
		Damp        float64
		ActOrder    bool `json:"act_order"`
		Q           []float64
		OutputError float64 `json:"output_error"`
		Hinv        []float64
	}
	RTN []struct {
		Group       int
		Q           []float64
		OutputError float64 `json:"output_error"`
	}
}

func loadFixture(t testing.TB) *fixture {
	t.Helper()
	b, err := os.ReadFile("testdata/gptq.json")
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("testdata/gptq.json: %v", err)
	}
	if len(f.W) != f.Rows*f.Cols || len(f.X) != f.N*f.Cols || len(f.GPTQ) == 0 || len(f.RTN) == 0 {
		t.Fatal("testdata/gptq.json: wrong sizes")
	}
	return &f
}

func f32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func (f *fixture) hessian(t testing.TB) *Hessian {
	t.Helper()
	h, err := NewHessian(f.Cols)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Add(f32s(f.X), f.N); err != nil {
		t.Fatal(err)
	}
	return h
}

// goldenTol bounds |Go − torch| relative to the larger of the two values.
// Both sides evaluate the same float64 formulas from the same float32
// inputs and differ only in summation order (a blocked tail update here,
// a different route to U: reversed Cholesky and a triangular inverse here,
// cholesky, cholesky_inverse and cholesky(upper) in torch). With the damped
// H's condition number at most 443 (default damping), that leaves the
// updated weights within about 1e-12 relative of torch's; every v/s lies at least fixture.margin
// (6e-4, checked below) from a rounding tie, so no rounding flips, and the
// scales max|w|/7 are taken from float32-rounded weights, which agree
// exactly unless a weight sits within 1e-12 of a float32 rounding boundary,
// and then by one float32 ulp (6e-8 relative). So each value q·s agrees
// within a few float32 ulps; 1e-6 (≈ 8 ulps) bounds that, and a flipped
// rounding (a difference of a whole step s) fails it. In practice the
// values agree exactly (the test logs how many do not).
const goldenTol = 1e-6

func closeRel(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*max(math.Abs(a), math.Abs(b))
}

// compareQ reports the values of got that differ from want by more than
// goldenTol, and returns how many differ at all.
func compareQ(t *testing.T, got []float32, want []float64, cols int) int {
	t.Helper()
	inexact, bad := 0, 0
	for i, v := range want {
		if float64(got[i]) != v {
			inexact++
		}
		if !closeRel(float64(got[i]), v, goldenTol) {
			if bad++; bad <= 5 {
				t.Errorf("q[%d][%d] = %v, torch %v", i/cols, i%cols, got[i], v)
			}
		}
	}
	return inexact
}

func TestGolden(t *testing.T) {
	f := loadFixture(t)
	if f.Margin < 1e-6 {
		t.Fatalf("fixture margin %g: a rounding is too close to a tie for the tolerance", f.Margin)
	}
	h := f.hessian(t)
	for _, c := range f.GPTQ {
		for _, block := range []int{c.Block, 1, 3, 5, 8, 16} {
			t.Run(fmt.Sprintf("%s/block=%d", c.Name, block), func(t *testing.T) {
				w := f32s(f.W)
				g := newSymGrid(f.Rows, f.Cols, c.Group)
				err := Quantize(w, f.Rows, f.Cols, h, c.Group, g,
					WithDamp(c.Damp), WithBlock(block), WithActOrder(c.ActOrder))
				if err != nil {
					t.Fatal(err)
				}
				if n := compareQ(t, w, c.Q, f.Cols); n > 0 {
					t.Logf("%d of %d values not bit-identical to torch", n, len(w))
				}
				e, err := OutputError(f32s(f.W), w, f.Rows, f.Cols, h)
				if err != nil {
					t.Fatal(err)
				}
				if !closeRel(e, c.OutputError, goldenTol) {
					t.Errorf("output error %v, torch %v", e, c.OutputError)
				}
			})
		}
	}
}

func TestGoldenRTN(t *testing.T) {
	f := loadFixture(t)
	h := f.hessian(t)
	for _, c := range f.RTN {
		w := f32s(f.W)
		if err := RoundToNearest(w, f.Rows, f.Cols, c.Group, newSymGrid(f.Rows, f.Cols, c.Group)); err != nil {
			t.Fatal(err)
		}
		// The same float64 operations on the same float32 inputs: bit-identical.
		for i, v := range c.Q {
			if float64(w[i]) != v {
				t.Fatalf("group %d: q[%d] = %v, torch %v", c.Group, i, w[i], v)
			}
		}
		e, err := OutputError(f32s(f.W), w, f.Rows, f.Cols, h)
		if err != nil {
			t.Fatal(err)
		}
		// A sum of 12·40² products in another order: 1e-12 relative.
		if !closeRel(e, c.OutputError, 1e-12) {
			t.Errorf("group %d: output error %v, torch %v", c.Group, e, c.OutputError)
		}
	}
}

// TestGoldenU compares the factor from invCholUpper with torch's
// cholesky → cholesky_inverse → cholesky(upper=True). The routes differ,
// so only to about κ(H)·n·ε: 1e-10 of max|U|. It also checks UᵀU·H = I.
func TestGoldenU(t *testing.T) {
	f := loadFixture(t)
	c := f.GPTQ[0]
	if c.Name != "default" || len(c.Hinv) != f.Cols*f.Cols {
		t.Fatal("fixture: first case is not default with hinv")
	}
	n := f.Cols
	hm := f.hessian(t).Matrix()
	var mean float64
	for i := range n {
		if hm[i*n+i] == 0 {
			hm[i*n+i] = 1
		}
		mean += hm[i*n+i]
	}
	for i := range n {
		hm[i*n+i] += c.Damp * mean / float64(n)
	}
	damped := slices.Clone(hm)
	u, bad := invCholUpper(hm, n)
	if u == nil {
		t.Fatalf("not positive definite at %d", bad)
	}
	var umax, diff float64
	for i, v := range c.Hinv {
		umax = max(umax, math.Abs(v))
		diff = max(diff, math.Abs(u[i]-v))
	}
	t.Logf("max |U − U_torch| = %.3g, max |U| = %.3g", diff, umax)
	if diff > 1e-10*umax {
		t.Errorf("max |U − U_torch| = %g, max |U| = %g", diff, umax)
	}
	// (UᵀU)·H = H⁻¹·H.
	for i := range n {
		for j := range n {
			var s float64
			for k := range n {
				var hinv float64
				for l := 0; l <= min(i, k); l++ {
					hinv += u[l*n+i] * u[l*n+k]
				}
				s += hinv * damped[k*n+j]
			}
			want := 0.0
			if i == j {
				want = 1
			}
			if math.Abs(s-want) > 1e-10 {
				t.Fatalf("(UᵀU·H)[%d][%d] = %v", i, j, s)
			}
		}
	}
}

func TestInvCholUpper2x2(t *testing.T) {
	// H = [[4 2] [2 3]], H⁻¹ = [[3 −2] [−2 4]]/8 = UᵀU with
	// U = [[√(3/8) −1/√6] [0 1/√3]].
	h := []float64{4, 2, 2, 3}
	u, _ := invCholUpper(h, 2)
	want := []float64{math.Sqrt(3.0 / 8), -1 / math.Sqrt(6), 0, 1 / math.Sqrt(3)}
	for i := range want {
		if math.Abs(u[i]-want[i]) > 1e-15 {
			t.Errorf("U = %v, want %v", u, want)
			break
		}
	}
	if u, bad := invCholUpper([]float64{1, 2, 2, 1}, 2); u != nil || bad != 0 {
		t.Errorf("indefinite H: U = %v, pivot %d", u, bad)
	}
}

func TestBlockEnds(t *testing.T) {
	for _, c := range []struct {
		cols, block, group int
		static             bool
		want               []int
	}{
		{40, 128, 8, false, []int{40}},
		{40, 128, 12, false, []int{40}},
		{40, 16, 12, false, []int{12, 24, 40}},
		{40, 16, 12, true, []int{16, 32, 40}},
		{40, 5, 8, false, []int{5, 8, 13, 16, 21, 24, 29, 32, 37, 40}},
		{40, 8, 8, false, []int{8, 16, 24, 32, 40}},
		{256, 128, 32, false, []int{128, 256}},
		{7, 1, 7, false, []int{1, 2, 3, 4, 5, 6, 7}},
	} {
		if got := blockEnds(c.cols, c.block, c.group, c.static); !slices.Equal(got, c.want) {
			t.Errorf("blockEnds(%d, %d, %d, %v) = %v, want %v", c.cols, c.block, c.group, c.static, got, c.want)
		}
	}
}

// arInputs returns n samples of cols features, each sample an AR(1)
// sequence x_j = rho·x_{j−1} + √(1−rho²)·z_j: neighbouring inputs correlated.
func arInputs(rng *rand.Rand, n, cols int, rho float64) []float32 {
	x := make([]float32, n*cols)
	a := math.Sqrt(1 - rho*rho)
	for s := range n {
		v := rng.NormFloat64()
		for j := range cols {
			x[s*cols+j] = float32(v)
			v = rho*v + a*rng.NormFloat64()
		}
	}
	return x
}

func randWeights(rng *rand.Rand, n int) []float32 {
	w := make([]float32, n)
	for i := range w {
		w[i] = float32(rng.NormFloat64() * 0.05)
	}
	return w
}

// TestBeatsRTN checks that GPTQ lowers the output error of round-to-nearest
// on the same grid: on the fixture (whose values torch gives, 20.2 against
// 42.7), and on a random 96×256 layer with correlated inputs.
func TestBeatsRTN(t *testing.T) {
	f := loadFixture(t)
	if g, r := f.GPTQ[0].OutputError, f.RTN[0].OutputError; !(g < 0.6*r) {
		t.Errorf("fixture: GPTQ %v, RTN %v", g, r)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	const rows, cols, n, group = 96, 256, 512, 32
	w0 := randWeights(rng, rows*cols)
	h, _ := NewHessian(cols)
	if err := h.Add(arInputs(rng, n, cols, 0.9), n); err != nil {
		t.Fatal(err)
	}
	errOf := func(quant func(w []float32) error) float64 {
		w := slices.Clone(w0)
		if err := quant(w); err != nil {
			t.Fatal(err)
		}
		e, err := OutputError(w0, w, rows, cols, h)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	rtn := errOf(func(w []float32) error {
		return RoundToNearest(w, rows, cols, group, newSymGrid(rows, cols, group))
	})
	for _, act := range []bool{false, true} {
		gq := errOf(func(w []float32) error {
			return Quantize(w, rows, cols, h, group, newSymGrid(rows, cols, group), WithActOrder(act))
		})
		t.Logf("act-order %v: GPTQ %.4g, RTN %.4g, ratio %.3f", act, gq, rtn, gq/rtn)
		if !(gq < 0.3*rtn) {
			t.Errorf("act-order %v: GPTQ output error %v not below 0.3 of RTN's %v", act, gq, rtn)
		}
	}
}

// TestDeadInputs: inputs 5 and 23 of the fixture never fire, so GPTQ sets
// their weights to 0, and what they held changes nothing else.
func TestDeadInputs(t *testing.T) {
	f := loadFixture(t)
	h := f.hessian(t)
	for _, act := range []bool{false, true} {
		w := f32s(f.W)
		for r := range f.Rows {
			for _, c := range f.Dead {
				w[r*f.Cols+c] = float32(100 * (r - 6))
			}
		}
		if err := Quantize(w, f.Rows, f.Cols, h, 8, newSymGrid(f.Rows, f.Cols, 8), WithActOrder(act)); err != nil {
			t.Fatal(err)
		}
		want := f.GPTQ[0].Q
		if act {
			want = f.GPTQ[3].Q
		}
		for r := range f.Rows {
			for _, c := range f.Dead {
				if w[r*f.Cols+c] != 0 {
					t.Errorf("act-order %v: dead w[%d][%d] = %v", act, r, c, w[r*f.Cols+c])
				}
			}
		}
		compareQ(t, w, want, f.Cols)
	}
}

// TestOneRow quantizes each row of the fixture alone: rows are independent.
func TestOneRow(t *testing.T) {
	f := loadFixture(t)
	h := f.hessian(t)
	c := f.GPTQ[1] // group 12, not dividing 40
	for r := range f.Rows {
		w := f32s(f.W[r*f.Cols : (r+1)*f.Cols])
		if err := Quantize(w, 1, f.Cols, h, c.Group, newSymGrid(1, f.Cols, c.Group)); err != nil {
			t.Fatal(err)
		}
		compareQ(t, w, c.Q[r*f.Cols:(r+1)*f.Cols], f.Cols)
	}
}

// TestWholeRowGroup: a group ≥ cols is one group per row.
func TestWholeRowGroup(t *testing.T) {
	f := loadFixture(t)
	h := f.hessian(t)
	a, b := f32s(f.W), f32s(f.W)
	if err := Quantize(a, f.Rows, f.Cols, h, f.Cols, newSymGrid(f.Rows, f.Cols, f.Cols)); err != nil {
		t.Fatal(err)
	}
	if err := Quantize(b, f.Rows, f.Cols, h, 1000, newSymGrid(f.Rows, f.Cols, 1000)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a, b) {
		t.Error("group 1000 differs from group cols")
	}
	r := f32s(f.W)
	if err := RoundToNearest(r, f.Rows, f.Cols, 1000, newSymGrid(f.Rows, f.Cols, 1000)); err != nil {
		t.Fatal(err)
	}
	e, _ := OutputError(f32s(f.W), a, f.Rows, f.Cols, h)
	rtn, _ := OutputError(f32s(f.W), r, f.Rows, f.Cols, h)
	t.Logf("one group per row: GPTQ %.4g, RTN %.4g", e, rtn)
	if !(e > 0 && e < rtn) {
		t.Errorf("one group per row: GPTQ output error %v, RTN %v", e, rtn)
	}
}

// contractGrid checks the calling contract of Grid and rounds onto a grid
// of step 1/16.
type contractGrid struct {
	t                 *testing.T
	rows, cols, group int
	static            bool
	cur               []int  // row → start of its fitted group, −1 before
	fitted            []bool // rows×groups
	rounded           []bool // rows×cols
	anyRound          bool
}

func (g *contractGrid) Fit(r, c0 int, w []float32) {
	groups := (g.cols + g.group - 1) / g.group
	if c0%g.group != 0 || len(w) != min(g.group, g.cols-c0) {
		g.t.Fatalf("Fit(%d, %d) with %d weights", r, c0, len(w))
	}
	if g.static && g.anyRound {
		g.t.Fatalf("act-order: Fit(%d, %d) after a Round", r, c0)
	}
	if !g.static {
		prev := g.cur[r]
		if prev != -1 {
			for c := prev; c < min(prev+g.group, g.cols); c++ {
				if !g.rounded[r*g.cols+c] {
					g.t.Fatalf("Fit(%d, %d) before Round(%d, %d)", r, c0, r, c)
				}
			}
		}
		g.cur[r] = c0
	}
	if g.fitted[r*groups+c0/g.group] {
		g.t.Fatalf("Fit(%d, %d) twice", r, c0)
	}
	g.fitted[r*groups+c0/g.group] = true
}

func (g *contractGrid) Round(r, c int, v float32) float32 {
	g.anyRound = true
	groups := (g.cols + g.group - 1) / g.group
	if !g.fitted[r*groups+c/g.group] || !g.static && g.cur[r] != c/g.group*g.group {
		g.t.Fatalf("Round(%d, %d) outside the fitted group", r, c)
	}
	if g.rounded[r*g.cols+c] {
		g.t.Fatalf("Round(%d, %d) twice", r, c)
	}
	g.rounded[r*g.cols+c] = true
	return float32(math.RoundToEven(float64(v)*16) / 16)
}

func TestGridContract(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const rows, cols, n = 70, 50, 80 // rows over two chunks
	x := arInputs(rng, n, cols, 0.5)
	h, _ := NewHessian(cols)
	h.Add(x, n)
	for _, group := range []int{1, 7, 16, 50} {
		for _, block := range []int{1, 6, 128} {
			for _, act := range []bool{false, true} {
				g := &contractGrid{t: t, rows: rows, cols: cols, group: group, static: act,
					cur: slices.Repeat([]int{-1}, rows), fitted: make([]bool, rows*cols), rounded: make([]bool, rows*cols)}
				w := randWeights(rng, rows*cols)
				if err := Quantize(w, rows, cols, h, group, g, WithBlock(block), WithActOrder(act)); err != nil {
					t.Fatal(err)
				}
				for i, v := range w {
					if !g.rounded[i] || v != float32(math.RoundToEven(float64(v)*16)/16) {
						t.Fatalf("group %d block %d act %v: w[%d] = %v not rounded", group, block, act, i, v)
					}
				}
			}
		}
	}
}

func TestHessian(t *testing.T) {
	// Five samples (one batch of four and one left over):
	// S = [[6 −1] [−1 12]], H = 2S/5.
	x := []float32{1, 0, 0, 1, 1, 1, 2, -1, 0, 3}
	want := []float64{2.4, -0.4, -0.4, 4.8}
	for _, split := range []int{5, 1, 2, 4} {
		h, err := NewHessian(2)
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 5; k += split {
			m := min(split, 5-k)
			if err := h.Add(x[2*k:2*(k+m)], m); err != nil {
				t.Fatal(err)
			}
		}
		if h.Samples() != 5 || h.Cols() != 2 {
			t.Fatalf("Samples %d, Cols %d", h.Samples(), h.Cols())
		}
		got := h.Matrix()
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-15 {
				t.Errorf("batches of %d: H = %v, want %v", split, got, want)
				break
			}
		}
		if d := h.Diag(); math.Abs(d[0]-2.4) > 1e-15 || math.Abs(d[1]-4.8) > 1e-15 {
			t.Errorf("Diag = %v", d)
		}
		// d = w − wq = [1 −2]: dᵀHd = 2.4·1² + 2·(−0.4)·1·(−2) + 4.8·(−2)² = 23.2.
		e, err := OutputError([]float32{1, 0}, []float32{0, 2}, 1, 2, h)
		if err != nil || math.Abs(e-23.2) > 1e-13 {
			t.Errorf("OutputError = %v, %v; want 23.2", e, err)
		}
	}
	h, _ := NewHessian(3)
	if h.Matrix() != nil || h.Diag() != nil {
		t.Error("an empty Hessian has a matrix")
	}
}

// TestOutputErrorFromInputs checks OutputError against its definition,
// 2/N·Σ_s ‖(W−Q)·x_s‖², computed from the fixture's inputs.
func TestOutputErrorFromInputs(t *testing.T) {
	f := loadFixture(t)
	q := f.GPTQ[0].Q
	var sum float64
	for s := range f.N {
		for r := range f.Rows {
			var y float64
			for c := range f.Cols {
				y += (f.W[r*f.Cols+c] - q[r*f.Cols+c]) * f.X[s*f.Cols+c]
			}
			sum += y * y
		}
	}
	want := 2 * sum / float64(f.N)
	got, err := OutputError(f32s(f.W), f32s(q), f.Rows, f.Cols, f.hessian(t))
	if err != nil || !closeRel(got, want, 1e-12) || !closeRel(want, f.GPTQ[0].OutputError, 1e-12) {
		t.Errorf("OutputError = %v, %v; from the inputs %v, torch %v", got, err, want, f.GPTQ[0].OutputError)
	}
}

func TestNotPositiveDefinite(t *testing.T) {
	// Two identical inputs: H = [[4 4] [4 4]], singular; with no damping the
	// second pivot is exactly 4 − 2² = 0.
	h, _ := NewHessian(2)
	if err := h.Add([]float32{0, 0, 2, 2}, 2); err != nil {
		t.Fatal(err)
	}
	w := []float32{0.3, -0.2}
	err := Quantize(w, 1, 2, h, 2, newSymGrid(1, 2, 2), WithDamp(0))
	if !errors.Is(err, ErrNotPositiveDefinite) {
		t.Fatalf("err = %v, want ErrNotPositiveDefinite", err)
	}
	if w[0] != 0.3 || w[1] != -0.2 {
		t.Errorf("w changed to %v", w)
	}
	if err := Quantize(w, 1, 2, h, 2, newSymGrid(1, 2, 2)); err != nil {
		t.Errorf("default damping: %v", err)
	}
}

func TestBadArguments(t *testing.T) {
	h4, _ := NewHessian(4)
	h4.Add(make([]float32, 8)[:0], 0)
	h4.Add([]float32{1, 2, 3, 4, 0, 1, 0, 1}, 2)
	h5, _ := NewHessian(5)
	h5.Add([]float32{1, 2, 3, 4, 5}, 1)
	empty, _ := NewHessian(4)
	g := newSymGrid(2, 4, 2)
	w := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	nan := []float32{1, 2, 3, float32(math.NaN()), 5, 6, 7, 8}
	for _, c := range []struct {
		name       string
		w          []float32
		rows, cols int
		h          *Hessian
		group      int
		g          Grid
		opts       []Option
	}{
		{"short w", w[:7], 2, 4, h4, 2, g, nil},
		{"long w", append(slices.Clone(w), 9), 2, 4, h4, 2, g, nil},
		{"rows 0", w[:0], 0, 4, h4, 2, g, nil},
		{"cols 0", w[:0], 2, 0, h4, 2, g, nil},
		{"rows −1", w, -1, -8, h4, 2, g, nil},
		{"overflow", w, math.MaxInt/2 + 1, 4, h4, 2, g, nil},
		{"group 0", w, 2, 4, h4, 0, g, nil},
		{"group −1", w, 2, 4, h4, -1, g, nil},
		{"nil grid", w, 2, 4, h4, 2, nil, nil},
		{"nil Hessian", w, 2, 4, nil, 2, g, nil},
		{"Hessian width", w, 2, 4, h5, 2, g, nil},
		{"no samples", w, 2, 4, empty, 2, g, nil},
		{"damp −1", w, 2, 4, h4, 2, g, []Option{WithDamp(-1)}},
		{"damp NaN", w, 2, 4, h4, 2, g, []Option{WithDamp(math.NaN())}},
		{"damp Inf", w, 2, 4, h4, 2, g, []Option{WithDamp(math.Inf(1))}},
		{"block 0", w, 2, 4, h4, 2, g, []Option{WithBlock(0)}},
		{"NaN weight", nan, 2, 4, h4, 2, g, nil},
	} {
		in := slices.Clone(c.w)
		if err := Quantize(in, c.rows, c.cols, c.h, c.group, c.g, c.opts...); err == nil {
			t.Errorf("Quantize %s: no error", c.name)
		}
		if !slices.Equal(in, c.w) && c.name != "NaN weight" {
			t.Errorf("Quantize %s: w changed", c.name)
		}
		if c.h == h4 && c.opts == nil {
			if err := RoundToNearest(slices.Clone(c.w), c.rows, c.cols, c.group, c.g); err == nil {
				t.Errorf("RoundToNearest %s: no error", c.name)
			}
		}
	}
	if err := Quantize(slices.Clone(w), 2, 4, h4, 2, g); err != nil {
		t.Errorf("good arguments: %v", err)
	}
	big := slices.Clone(w)
	if err := Quantize(big, 2, 4, h4, math.MaxInt, newSymGrid(2, 4, 4), WithBlock(math.MaxInt), WithDamp(1e6)); err != nil {
		t.Errorf("huge group, block and damping: %v", err)
	}
	for _, v := range big {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Errorf("huge damping: w = %v", big)
			break
		}
	}
	if err := Quantize(slices.Clone(w), 2, 4, h4, 2, g, WithDamp(math.MaxFloat64)); err == nil {
		t.Error("overflowing damping: no error")
	}
	if err := RoundToNearest(slices.Clone(w), 2, 4, 2, g); err != nil {
		t.Errorf("RoundToNearest good arguments: %v", err)
	}

	for _, cols := range []int{0, -3, math.MaxInt/2 + 1} {
		if h, err := NewHessian(cols); err == nil || h != nil {
			t.Errorf("NewHessian(%d) = %v, %v", cols, h, err)
		}
	}
	for _, c := range []struct {
		x []float32
		m int
	}{{w[:7], 2}, {w, 3}, {w, -2}, {w[:4], 0}, {nan, 2}, {[]float32{0, 0, float32(math.Inf(-1)), 0}, 1}} {
		if err := h4.Add(c.x, c.m); err == nil {
			t.Errorf("Add(%d values, %d): no error", len(c.x), c.m)
		}
	}
	if h4.Samples() != 2 {
		t.Errorf("refused batches counted: %d samples", h4.Samples())
	}

	for _, c := range []struct {
		w, wq      []float32
		rows, cols int
		h          *Hessian
	}{
		{w, w[:7], 2, 4, h4}, {w[:7], w, 2, 4, h4}, {w, w, 0, 4, h4}, {w, w, 2, 4, nil},
		{w, w, 2, 4, empty}, {w, w, 2, 4, h5}, {w, w, -2, -4, h4},
	} {
		if _, err := OutputError(c.w, c.wq, c.rows, c.cols, c.h); err == nil {
			t.Errorf("OutputError(%d, %d values, %d×%d): no error", len(c.w), len(c.wq), c.rows, c.cols)
		}
	}
}
