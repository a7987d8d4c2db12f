package bench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/lstmq/lstmq/internal/f32"
	"github.com/lstmq/lstmq/internal/q8"
)

// WriteTable prints the comparison as a Markdown table, then the
// generation speeds. With more than one setting (threads, batch size) the
// table has a section per setting, and a second table gives each run's
// tokens/s at every setting.
//
// An lstmq row's × ONNX Runtime and × PyTorch compare it with the anchor of
// its precision at the same setting. ONNX Runtime has int8 LSTMs only: for
// the other kinds an int8 row is compared with ORT fp32 instead, and the
// cell says so.
func (r *Result) WriteTable(w io.Writer, c Config) {
	c.defaults()
	ss := c.Settings()
	if m := strings.Trim(c.Kind+": "+c.Arch, ": "); m != "" {
		fmt.Fprintf(w, "Model: %s\n", m)
	}
	if len(ss) == 1 {
		fmt.Fprintf(w, "CPU: %s; %s; %s; %d round(s), median seconds\n\n", r.CPU, plural(c.Threads, "thread"),
			dataLabel(c.MaxTokens, c.BatchSize), c.Rounds)
	} else {
		fmt.Fprintf(w, "CPU: %s; %d round(s), each running every setting in turn, median seconds\n\n", r.CPU, c.Rounds)
	}
	fmt.Fprintln(w, "| run | size MB | loss | loss − fp32 | seconds | × ONNX Runtime | × PyTorch | × lstmq fp32 | peak RSS MB (× file) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	int8Alone := false
	for _, st := range ss {
		if len(ss) > 1 {
			fmt.Fprintf(w, "| **%s; %s** | | | | | | | | |\n", plural(st.Threads, "thread"), dataLabel(c.MaxTokens, st.BatchSize))
		}
		int8Alone = r.writeRows(w, c, st) || int8Alone
	}
	if int8Alone && len(c.Schemes) > 0 {
		what := "this model"
		if c.Kind != "" && c.Kind != "LSTM" {
			what = "a " + c.Kind
			if strings.HasPrefix(c.Kind, "RNN") {
				what = "an " + c.Kind
			}
		}
		fmt.Fprintf(w, "\nONNX Runtime has no int8 kernels for %s: the int8 rows' × ONNX Runtime is against ORT fp32.\n", what)
	}
	if strings.HasPrefix(c.Kind, "RNN") {
		fmt.Fprintln(w, "quantize_dynamic leaves nn.RNN in float: pytorch int8 and lstmq int8 pytorch quantize the decoder only.")
	}
	if len(ss) > 1 {
		r.writeScaling(w, c, ss)
	}
	r.writeGen(w, c)
}

// runs lists the table's runs in order: the anchors, then lstmq's.
func runs(c Config) [][2]string {
	rs := [][2]string{{"pytorch", "fp32"}, {"pytorch", "int8"}, {"ort", "fp32"}, {"ort", "int8"}, {"lstmq", "fp32"}}
	for _, s := range c.Schemes {
		rs = append(rs, [2]string{"lstmq", s})
	}
	return rs
}

// runName is a run's name in the tables: lstmq's int8 rows carry the scheme.
func runName(impl, which string) string {
	if impl == "lstmq" && which != "fp32" {
		return "lstmq int8 " + which
	}
	return impl + " " + which
}

// writeRows prints the rows of one setting. It reports whether the int8
// rows were compared with ORT fp32 (no ORT int8 run).
func (r *Result) writeRows(w io.Writer, c Config, st Setting) (int8Alone bool) {
	fpSec, fpLoss, _, _ := r.MedianAt("lstmq", "fp32", st)
	_, _, _, ortInt8 := r.MedianAt("ort", "int8", st)
	_, _, _, ortFP32 := r.MedianAt("ort", "fp32", st)
	for _, run := range runs(c) {
		impl, which := run[0], run[1]
		sec, loss, rss, ok := r.MedianAt(impl, which, st)
		if !ok {
			continue
		}
		ratio := func(i, v string) string {
			s, _, _, ok := r.MedianAt(i, v, st)
			if !ok || s == 0 {
				return "–"
			}
			return fmt.Sprintf("%.2f", sec/s)
		}
		size, mem, vsFP, vsORT, vsPT := "–", "–", "–", "–", "–"
		if impl == "lstmq" {
			anchor := "int8"
			if which == "fp32" {
				anchor = "fp32"
			}
			size = fmt.Sprintf("%.1f", r.Sizes[which])
			mem = fmt.Sprintf("%.0f (%.2f)", rss, rss/r.Sizes[which])
			vsORT, vsPT = ratio("ort", anchor), ratio("pytorch", anchor)
			if anchor == "int8" && !ortInt8 && ortFP32 {
				vsORT = ratio("ort", "fp32") + " (fp32)"
				int8Alone = true
			}
			if fpSec > 0 {
				vsFP = fmt.Sprintf("%.2f", sec/fpSec)
			}
		}
		fmt.Fprintf(w, "| %s | %s | %.4f | %+.4f | %.2f | %s | %s | %s | %s |\n", runName(impl, which), size, loss, loss-fpLoss, sec, vsORT, vsPT, vsFP, mem)
	}
	return int8Alone
}

// writeScaling prints every run's tokens/s at each setting, and its ratio
// to the first setting's.
func (r *Result) writeScaling(w io.Writer, c Config, ss []Setting) {
	fmt.Fprintf(w, "\nTokens/s (× %s):\n\n| run |", ss[0])
	for _, st := range ss {
		fmt.Fprintf(w, " %s |", st)
	}
	fmt.Fprint(w, "\n|---|"+strings.Repeat("---|", len(ss))+"\n")
	for _, run := range runs(c) {
		var cells []string
		var base float64
		for i, st := range ss {
			rate := r.tokensPerSecond(run[0], run[1], st)
			if i == 0 {
				base = rate
			}
			switch {
			case rate == 0:
				cells = append(cells, "–")
			case base > 0:
				cells = append(cells, fmt.Sprintf("%.0f (%.2f)", rate, rate/base))
			default:
				cells = append(cells, fmt.Sprintf("%.0f", rate))
			}
		}
		if strings.Trim(strings.Join(cells, ""), "–") == "" {
			continue
		}
		fmt.Fprintf(w, "| %s | %s |\n", runName(run[0], run[1]), strings.Join(cells, " | "))
	}
}

// tokensPerSecond is the tokens a run of impl/which scored at st, over its
// median seconds (0: no such run).
func (r *Result) tokensPerSecond(impl, which string, st Setting) float64 {
	sec, _, _, ok := r.MedianAt(impl, which, st)
	if !ok || sec <= 0 {
		return 0
	}
	for _, run := range r.Runs {
		if run.Impl == impl && run.Which == which && run.Threads == st.Threads && run.BatchSize == st.BatchSize {
			return float64(run.Tokens) / sec
		}
	}
	return 0
}

// writeGen prints the generation speeds, a line per thread count.
func (r *Result) writeGen(w io.Writer, c Config) {
	if len(r.Gen) == 0 {
		return
	}
	for _, th := range c.genThreads() {
		suffix := c.genSuffix(th)
		if _, ok := r.Gen["lstmq fp32"+suffix]; !ok {
			if _, ok := r.Gen["lstmq int8"+suffix]; !ok {
				continue
			}
		}
		var parts []string
		for _, k := range []string{"lstmq fp32", "lstmq int8", "pytorch fp32", "pytorch int8"} {
			if v, ok := r.Gen[k+suffix]; ok {
				parts = append(parts, fmt.Sprintf("%s %.0f", k, v))
			}
		}
		if a, b := r.Gen["lstmq int8"+suffix], r.Gen["pytorch int8"+suffix]; a > 0 && b > 0 {
			parts = append(parts, fmt.Sprintf("lstmq int8 / pytorch int8 = %.1f×", a/b))
		}
		if a, b := r.Gen["lstmq int8"+suffix], r.Gen["lstmq int8"]; suffix != "" && a > 0 && b > 0 {
			parts = append(parts, fmt.Sprintf("lstmq int8 × %s = %.2f", plural(c.Threads, "thread"), a/b))
		}
		fmt.Fprintf(w, "\nBatch-1 generation (%d words, %s), words/s: %s", c.GenWords, plural(th, "thread"), strings.Join(parts, "; "))
		fmt.Fprintln(w)
	}
}

// dataLabel says which test tokens the runs read.
func dataLabel(rows, batch int) string {
	switch {
	case batch <= 1 && rows == 0:
		return "all test tokens, batch 1"
	case batch <= 1:
		return fmt.Sprintf("first %d test tokens, batch 1", rows)
	case rows == 0:
		return fmt.Sprintf("batch %d: all rows of batchify(test, %d)", batch, batch)
	}
	return fmt.Sprintf("batch %d: first %d rows of batchify(test, %d)", batch, rows, batch)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// Roofline is the throughput of the matrix kernels on the decoder's shape
// (m = bptt rows, n = ntoken, k = nhid), single thread, next to the core's
// estimated peak.
type Roofline struct {
	M, N, K               int
	F32GFLOPS, F32Peak    float64
	Int8GOPS, Int8Peak    float64
	F32Kernel, Int8Kernel string
}

// MeasureRoofline times f32 Matrix.Mul and q8 MulU8Dequant on an m×k by
// n×k product for about d each, on one thread.
func MeasureRoofline(m, n, k int, d time.Duration) Roofline {
	rng := rand.New(rand.NewPCG(1, 2))
	w := make([]float32, n*k)
	wq := make([]int8, n*k)
	for i := range w {
		w[i] = rng.Float32() - 0.5
		wq[i] = int8(rng.IntN(256) - 128)
	}
	x := make([]float32, m*k)
	xq := make([]uint8, m*k)
	for i := range x {
		x[i] = rng.Float32()
		xq[i] = uint8(rng.IntN(128))
	}
	dst := make([]float32, m*n)
	bias := make([]float32, n)
	fm := f32.NewMatrix(w, n, k)
	qm := q8.Pack(wq, n, k, []float32{0.01})
	ops := 2 * float64(m) * float64(n) * float64(k)
	rate := func(f func()) float64 {
		f()
		start := time.Now()
		reps := 0
		for time.Since(start) < d {
			f()
			reps++
		}
		return ops * float64(reps) / time.Since(start).Seconds() / 1e9
	}
	return Roofline{M: m, N: n, K: k,
		F32GFLOPS: rate(func() { fm.Mul(nil, dst, x, m, bias) }), F32Peak: f32.PeakGFLOPS(), F32Kernel: f32.Level().String(),
		Int8GOPS: rate(func() { qm.MulU8Dequant(nil, dst, xq, m, 0.02, 3, bias) }), Int8Peak: q8.PeakGOPS(), Int8Kernel: q8.Kernel(),
	}
}

func (r Roofline) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Roofline, decoder shape m=%d n=%d k=%d, one thread:\n", r.M, r.N, r.K)
	fmt.Fprintf(&sb, "  fp32 (%s): %.1f GFLOP/s of an estimated peak %.0f (%.0f%%)\n", r.F32Kernel, r.F32GFLOPS, r.F32Peak, 100*r.F32GFLOPS/r.F32Peak)
	fmt.Fprintf(&sb, "  int8 (%s): %.1f GOP/s of an estimated peak %.0f (%.0f%%)\n", r.Int8Kernel, r.Int8GOPS, r.Int8Peak, 100*r.Int8GOPS/r.Int8Peak)
	return sb.String()
}
