package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/lstmq/lstmq/internal/rss"
)

// Config says what to compare.
type Config struct {
	Exe          string    // the lstmq binary to time
	Model        string    // float32 PyTorch checkpoint: a state_dict (.pth) or the example's torch.save(model) (.pt)
	Nonlinearity string    // a state_dict RNN's nonlinearity, tanh or relu; "": the files' default (tanh)
	Kind         string    // the model's kind (LSTM, GRU, RNN_TANH, RNN_RELU), for the table
	Arch         string    // the model's layers in one line, for the table
	Data         string    // corpus folder: train.txt, valid.txt, test.txt
	MaxTokens    int       // first N rows of batchify(test, BatchSize) (at batch 1, N tokens); 0: all
	BatchSize    int       // sequences side by side in every run (≥ 1)
	Threads      int       // threads of every run (≥ 1)
	More         []Setting // further settings (threads, batch size): every round runs each after the first
	Rounds       int       // alternating rounds (≥ 1)
	Schemes      []string  // int8 schemes to time, e.g. "pytorch", "channel-act8"
	Anchors      string    // bench/anchors/anchors.sh; "" skips PyTorch and ONNX Runtime
	Python       string    // interpreter for the anchors and TorchGen; "": their default
	TorchGen     string    // torch_generate.py; "" skips PyTorch's generation speed
	GenWords     int       // words for the generation speed; 0 skips it
	WorkDir      string    // where the quantized files go
	Log          io.Writer
}

// A Setting is the threads and batch size of a group of runs.
type Setting struct {
	Threads   int `json:"threads"`
	BatchSize int `json:"batch_size"`
}

func (s Setting) String() string {
	return plural(s.Threads, "thread") + fmt.Sprintf(", batch %d", s.BatchSize)
}

// Settings lists the groups the runs fall in: Threads and BatchSize first,
// then More, without repeats.
func (c *Config) Settings() []Setting {
	ss := []Setting{{max(c.Threads, 1), max(c.BatchSize, 1)}}
	for _, s := range c.More {
		s = Setting{max(s.Threads, 1), max(s.BatchSize, 1)}
		if !slices.Contains(ss, s) {
			ss = append(ss, s)
		}
	}
	return ss
}

// at is c with its first setting replaced by s.
func (c Config) at(s Setting) *Config {
	c.Threads, c.BatchSize, c.More = s.Threads, s.BatchSize, nil
	return &c
}

// Run is one timed evaluation.
type Run struct {
	Impl    string  `json:"impl"`  // lstmq, pytorch, ort
	Which   string  `json:"which"` // fp32, int8 (anchors), or the lstmq scheme
	Round   int     `json:"round"`
	Loss    float64 `json:"loss"`
	Seconds float64 `json:"seconds"`
	Tokens  int     `json:"tokens"`
	RSSMB   float64 `json:"rss_mb,omitempty"` // peak resident set, lstmq only

	Threads   int `json:"threads,omitempty"`    // as the run reported it
	BatchSize int `json:"batch_size,omitempty"` // as the run reported it
}

// Result is everything Compare measured.
type Result struct {
	Runs  []Run              `json:"runs"`
	Sizes map[string]float64 `json:"size_mb"`         // by lstmq variant: file given to eval
	Gen   map[string]float64 `json:"gen_words_per_s"` // "lstmq fp32", "lstmq int8", "pytorch fp32", "pytorch int8"; at more thread counts than the first, "lstmq int8, 2 threads"
	CPU   string             `json:"cpu"`

	Kind      string `json:"kind,omitempty"` // LSTM, GRU, RNN_TANH or RNN_RELU
	Threads   int    `json:"threads"`
	BatchSize int    `json:"batch_size"`
}

func (c *Config) logf(format string, a ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, "bench: "+format+"\n", a...)
	}
}

// variant is one lstmq configuration: the file eval is given and its name.
type variant struct{ name, file string }

// Compare quantizes the model once per scheme, then runs the rounds: lstmq's
// variants and the anchors back to back, the anchors first on even rounds.
func Compare(ctx context.Context, c Config) (*Result, error) {
	c.defaults()
	res := &Result{Sizes: map[string]float64{}, Gen: map[string]float64{}, CPU: CPUName(),
		Kind: c.Kind, Threads: c.Threads, BatchSize: c.BatchSize}
	vs := []variant{{"fp32", c.Model}}
	for _, s := range c.Schemes {
		f := filepath.Join(c.WorkDir, "model."+s+".safetensors")
		c.logf("quantizing %s (%s)", c.Model, s)
		if _, err := c.lstmq(ctx, c.modelArgs("quantize", c.Model, "--data", c.Data, "--out", f, "--scheme", s)...); err != nil {
			return nil, err
		}
		vs = append(vs, variant{s, f})
	}
	for _, v := range vs {
		st, err := os.Stat(v.file)
		if err != nil {
			return nil, err
		}
		res.Sizes[v.name] = float64(st.Size()) / 1e6
	}
	for r := 1; r <= c.Rounds; r++ {
		for _, st := range c.Settings() {
			if err := c.at(st).round(ctx, r, vs, res); err != nil {
				return nil, err
			}
		}
	}
	if c.GenWords > 0 {
		// The timings are in hand: a failed generation run costs only its row.
		for _, th := range c.genThreads() {
			if err := c.at(Setting{th, 1}).generation(ctx, vs, res, c.genSuffix(th)); err != nil {
				c.logf("generation speed not measured: %v", err)
			}
		}
	}
	return res, nil
}

// genThreads lists the thread counts of the settings, each once: the ones
// generation is timed at.
func (c *Config) genThreads() []int {
	var ts []int
	for _, st := range c.Settings() {
		if !slices.Contains(ts, st.Threads) {
			ts = append(ts, st.Threads)
		}
	}
	return ts
}

// genSuffix ends the Result.Gen keys of generation on th threads: nothing
// for the first setting's, ", 2 threads" for others.
func (c *Config) genSuffix(th int) string {
	if th == max(c.Threads, 1) {
		return ""
	}
	return ", " + plural(th, "thread")
}

// round runs one round at c's first setting: lstmq's variants and the
// anchors back to back, the anchors first on even rounds.
func (c *Config) round(ctx context.Context, r int, vs []variant, res *Result) error {
	anchorsFirst := r%2 == 0
	if anchorsFirst {
		if err := c.anchors(ctx, r, res); err != nil {
			return err
		}
	}
	for _, v := range vs {
		c.logf("round %d/%d, %s: lstmq %s", r, c.Rounds, Setting{c.Threads, c.BatchSize}, v.name)
		run, err := c.evalRun(ctx, v)
		if err != nil {
			return err
		}
		run.Round = r
		res.Runs = append(res.Runs, run)
	}
	if !anchorsFirst {
		return c.anchors(ctx, r, res)
	}
	return nil
}

// defaults puts the zero values of the counts at 1.
func (c *Config) defaults() {
	c.Rounds, c.Threads, c.BatchSize = max(c.Rounds, 1), max(c.Threads, 1), max(c.BatchSize, 1)
}

// modelArgs is an lstmq command line for the model file: cmd --model file
// [--nonlinearity nl] args...
func (c *Config) modelArgs(cmd, file string, args ...string) []string {
	a := []string{cmd, "--model", file}
	if c.Nonlinearity != "" {
		a = append(a, "--nonlinearity", c.Nonlinearity)
	}
	return append(a, args...)
}

// lstmq runs the binary and returns its standard output.
func (c *Config) lstmq(ctx context.Context, args ...string) ([]byte, error) {
	out, _, err := c.command(ctx, c.Exe, args...)
	return out, err
}

// command runs a program, returning stdout and the peak RSS in bytes.
func (c *Config) command(ctx context.Context, exe string, args ...string) ([]byte, int64, error) {
	cmd := exec.CommandContext(ctx, exe, args...)
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errb
	err := cmd.Run()
	var peak int64
	if cmd.ProcessState != nil {
		peak = rss.Peak(cmd.ProcessState)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%s %s: %v: %s", filepath.Base(exe), strings.Join(args, " "), err, lastLine(errb.String()))
	}
	return out.Bytes(), peak, nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func (c *Config) evalRun(ctx context.Context, v variant) (Run, error) {
	out, rss, err := c.command(ctx, c.Exe, c.modelArgs("eval", v.file, "--data", c.Data,
		"--threads", strconv.Itoa(c.Threads), "--batch-size", strconv.Itoa(c.BatchSize),
		"--max-tokens", strconv.Itoa(c.MaxTokens), "--json")...)
	if err != nil {
		return Run{}, err
	}
	var r Run
	if err := json.Unmarshal(out, &r); err != nil {
		return Run{}, fmt.Errorf("lstmq eval printed %q: %w", out, err)
	}
	if r.Threads != 0 && r.Threads != c.Threads || r.BatchSize != 0 && r.BatchSize != c.BatchSize {
		return Run{}, fmt.Errorf("lstmq eval ran with %d thread(s) at batch %d; asked for %d at batch %d", r.Threads, r.BatchSize, c.Threads, c.BatchSize)
	}
	r.Impl, r.Which, r.RSSMB = "lstmq", v.name, float64(rss)/1e6
	r.Threads, r.BatchSize = c.Threads, c.BatchSize
	return r, nil
}

// anchorArgs is the command line of one round of the anchors script:
// bench/anchors/anchors.sh [options] MODEL DATA ROWS.
func (c *Config) anchorArgs() []string {
	a := []string{c.Anchors, "--threads", strconv.Itoa(max(c.Threads, 1)), "--batch-size", strconv.Itoa(max(c.BatchSize, 1))}
	if c.Nonlinearity != "" {
		a = append(a, "--nonlinearity", c.Nonlinearity)
	}
	return append(a, c.Model, c.Data, strconv.Itoa(c.MaxTokens))
}

// anchors runs one round of the anchors script (PyTorch and ONNX Runtime,
// fp32 and int8 where the runtime has it) and appends its runs.
func (c *Config) anchors(ctx context.Context, round int, res *Result) error {
	if c.Anchors == "" {
		return nil
	}
	c.logf("round %d/%d: anchors (PyTorch, ONNX Runtime)", round, c.Rounds)
	cmd := exec.CommandContext(ctx, "bash", c.anchorArgs()...)
	if c.Python != "" {
		cmd.Env = append(os.Environ(), "PYTHON="+c.Python)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = c.Log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", c.Anchors, err)
	}
	runs, err := ParseAnchors(&out)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Anchors, err)
	}
	for _, r := range runs {
		// A script that ignored --threads or --batch-size would time
		// something else than the lstmq rows beside it.
		if r.Threads != 0 && r.Threads != c.Threads || r.BatchSize != 0 && r.BatchSize != c.BatchSize {
			return fmt.Errorf("%s: %s %s ran with %d thread(s) at batch %d; asked for %d at batch %d",
				c.Anchors, r.Impl, r.Which, r.Threads, r.BatchSize, c.Threads, c.BatchSize)
		}
		r.Round, r.Threads, r.BatchSize = round, c.Threads, c.BatchSize
		res.Runs = append(res.Runs, r)
	}
	return nil
}

// ParseAnchors reads the anchors' standard output: one JSON object per
// line, {"impl", "which", "loss", "seconds", "tokens", …}, among lines that
// do not start with '{', which it skips. A run needs impl, which and seconds.
func ParseAnchors(r io.Reader) ([]Run, error) {
	var runs []Run
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var run Run
		if err := json.Unmarshal(line, &run); err != nil {
			return nil, fmt.Errorf("line %d %q: %w", n, line, err)
		}
		if run.Impl == "" || run.Which == "" || run.Seconds <= 0 {
			return nil, fmt.Errorf("line %d %q: want impl, which and seconds > 0", n, line)
		}
		runs = append(runs, run)
	}
	return runs, sc.Err()
}

var genRate = regexp.MustCompile(`\(([0-9.]+) words/s`)

// generation measures batch-1 sampling speed: lstmq fp32 and its first
// int8 variant, and PyTorch fp32 and int8.
// The rates go in res.Gen under "impl which" plus suffix.
func (c *Config) generation(ctx context.Context, vs []variant, res *Result, suffix string) error {
	for i, v := range vs {
		if i > 1 {
			break
		}
		c.logf("generation: lstmq %s", v.name)
		cmd := exec.CommandContext(ctx, c.Exe, c.modelArgs("generate", v.file, "--data", c.Data,
			"--threads", strconv.Itoa(c.Threads), "--words", strconv.Itoa(c.GenWords), "--out", os.DevNull)...)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("lstmq generate: %v: %s", err, lastLine(errb.String()))
		}
		m := genRate.FindStringSubmatch(errb.String())
		if m == nil {
			return fmt.Errorf("lstmq generate printed no rate: %q", lastLine(errb.String()))
		}
		rate, _ := strconv.ParseFloat(m[1], 64)
		which := "fp32"
		if i == 1 {
			which = "int8"
		}
		res.Gen["lstmq "+which+suffix] = rate
	}
	if c.TorchGen == "" {
		return nil
	}
	for _, which := range []string{"fp32", "int8"} {
		c.logf("generation: pytorch %s", which)
		py := c.Python
		if py == "" {
			py = "/usr/bin/python3"
		}
		out, _, err := c.command(ctx, py, c.TorchGen, c.Model, strconv.Itoa(c.GenWords), which,
			strconv.Itoa(c.Threads), c.Nonlinearity)
		if err != nil {
			return err
		}
		var g struct {
			WPS float64 `json:"words_per_second"`
		}
		if err := json.Unmarshal(bytes.TrimSpace(lastLineBytes(out)), &g); err != nil {
			return fmt.Errorf("%s printed %q: %w", c.TorchGen, out, err)
		}
		res.Gen["pytorch "+which+suffix] = g.WPS
	}
	return nil
}

func lastLineBytes(b []byte) []byte { return []byte(lastLine(string(b))) }

// Median returns the median seconds of the runs of impl/which, and the
// loss of the first of them.
func (r *Result) Median(impl, which string) (sec, loss float64, rss float64, ok bool) {
	return r.median(impl, which, nil)
}

// MedianAt is Median over the runs of one setting.
func (r *Result) MedianAt(impl, which string, st Setting) (sec, loss float64, rss float64, ok bool) {
	return r.median(impl, which, &st)
}

func (r *Result) median(impl, which string, st *Setting) (sec, loss float64, rss float64, ok bool) {
	var s []float64
	for _, run := range r.Runs {
		if run.Impl == impl && run.Which == which && (st == nil || run.Threads == st.Threads && run.BatchSize == st.BatchSize) {
			if !ok {
				loss, ok = run.Loss, true
			}
			s = append(s, run.Seconds)
			rss = max(rss, run.RSSMB)
		}
	}
	if !ok {
		return 0, 0, 0, false
	}
	sort.Float64s(s)
	if n := len(s); n%2 == 1 {
		sec = s[n/2]
	} else {
		sec = (s[n/2-1] + s[n/2]) / 2
	}
	return sec, loss, rss, true
}

// CPUName returns the processor's model name from /proc/cpuinfo.
func CPUName() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
