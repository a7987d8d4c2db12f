package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lstmq/lstmq/checkpoint"
	"github.com/lstmq/lstmq/corpus"
	"github.com/lstmq/lstmq/internal/chart"
	"github.com/lstmq/lstmq/internal/parallel"
	"github.com/lstmq/lstmq/model"
	"github.com/lstmq/lstmq/quant"
)

func newQuantizeCmd() *cobra.Command {
	var (
		modelPath, data, out, splitName string
		nonlinearity                    string
		q                               quantFlags
		report, asJSON, sweep           bool
		reportTokens, bptt, maxTokens   int
		dropout                         float64
		chartPath                       string
		cf                              calibFlags
	)
	c := &cobra.Command{
		Use:   "quantize --model M.pth --data DIR --out M.q8.safetensors",
		Short: "Quantize a model to int8 and save it, or report per-layer accuracy",
		Long: `Quantize a float32 model dynamically (int8 weights, activations quantized on the fly)
and write it, with its vocabulary, to one safetensors file that eval, generate and
inspect read without the original checkpoint.

Schemes: pytorch (quantize_dynamic's default: one scale per tensor, activations in
[0, 127]), channel (one scale per output row), blockN (one scale per N inputs of
each row, e.g. block64); add -act8 for activations in [0, 255] and -emb8 (or
--embedding int8) for a row-wise 8-bit embedding. Example: channel-act8-emb8.
fp16 and bf16 store every weight matrix, the embedding included, as 16-bit
floats and compute in float32; -emb8 makes their embedding 8-bit, -emb32 keeps
it float32 (as quantize_dynamic(dtype=torch.float16) does).

Below 8 bits: q{b}_0 (symmetric, an fp16 scale per 32 inputs), q{b}_1 (fp16
scale and minimum per 32 inputs) and q{b}_k (super-blocks of 256 inputs, 6-bit
scales and minimums per 32), b from 2 to 8, e.g. q4_k; -emb{b} stores the
embedding in b bits per value (-emb4); -imatrix and -gptq fit low-bit weights
on calibration text (the first --calib-tokens tokens of --calib). A mixed plan
adds per-matrix formats after commas: q4_k-emb4,dec=q6_k,hh0=q8_0 (targets dec,
rnn, ih, hh, ih{k}, hh{k}). --target-size MB (or --target-ratio) measures each
matrix's sensitivity on the calibration tokens and picks the plan that fits the
--out file in the target at the least loss of accuracy; the plan is printed and
is the file's scheme.

With --report, it prints for each quantized layer the SQNR of its output against
float32, the loss when only that layer is quantized, and that model's mean KL
divergence and top-1 agreement with float32, on the first --report-tokens
tokens of --split.

With --sweep, it quantizes with every scheme (pytorch, channel, block32, each
with -act8, -emb8 and both; fp16 and bf16, with -emb8 and -emb32; the low-bit
formats with -emb4 or -emb8, -imatrix and -gptq; and the mixed plans chosen for
10%, 12%, 15%, 18% and 22% of the float32 size) and prints one
row per scheme: the size of the file --scheme writes, bits per weight (the
tensors' bits over the float32 model's parameters), the loss and its difference
to float32, the mean KL divergence of the next-word distribution from float32's
and the fraction of positions whose most likely word is float32's, all on the
first --max-tokens tokens of the test split (or --split), batch size 1, as
lstmq eval computes the loss. --json prints a JSON array of objects with the
keys scheme, bytes, bits_per_weight, loss, loss_delta, kl, top1; --chart FILE
(.png or .svg) draws size against loss − fp32 loss.`,
		Args: cobra.NoArgs,
	}
	threads := addThreads(c)
	f := c.Flags()
	flagModel(f, &modelPath, &nonlinearity)
	flagData(f, &data)
	f.StringVar(&out, "out", "", "output file (.safetensors)")
	flagQuant(f, &q, false)
	f.BoolVar(&report, "report", false, "print the per-layer accuracy report")
	f.IntVar(&reportTokens, "report-tokens", 2000, "tokens the report evaluates")
	f.StringVar(&splitName, "split", "valid", "split the report evaluates")
	f.IntVar(&bptt, "bptt", 25, "time steps per chunk in the report")
	f.BoolVar(&asJSON, "json", false, "print the report (and sizes) as JSON; with --sweep, the sweep as a JSON array")
	f.BoolVar(&sweep, "sweep", false, "quantize with every scheme and print each file's size, loss, KL divergence and top-1 agreement against float32")
	f.IntVar(&maxTokens, "max-tokens", 20000, "tokens the sweep evaluates: the first N rows of the split (0: all), as lstmq eval --max-tokens")
	f.StringVar(&chartPath, "chart", "", "with --sweep, draw size against loss − fp32 loss to this .png or .svg file")
	flagDropout(f, &dropout)
	flagCalib(f, &cf)
	c.RunE = func(c *cobra.Command, _ []string) error {
		pool, err := threads()
		if err != nil {
			return err
		}
		if sweep {
			if out != "" || report {
				return usagef("--sweep writes no --out file and no --report: give it alone")
			}
			if maxTokens < 0 || bptt < 1 {
				return usagef("--max-tokens must be >= 0 and --bptt >= 1")
			}
			if c.Flags().Changed("scheme") || c.Flags().Changed("embedding") {
				return usagef("--sweep measures every scheme: drop --scheme and --embedding")
			}
			if !c.Flags().Changed("split") {
				splitName = "test"
			}
			if cf.targetSet() {
				return usagef("--sweep measures its own targets: drop --target-size and --target-ratio")
			}
			return runSweep(c, pool, modelPath, nonlinearity, dropout, data, splitName, maxTokens, bptt, asJSON, chartPath, cf)
		}
		if chartPath != "" {
			return usagef("--chart needs --sweep")
		}
		if out == "" && !report {
			return usagef("give --out FILE, --report, --sweep, or --out and --report")
		}
		if err := cf.check(); err != nil {
			return err
		}
		if cf.targetSet() && out == "" {
			return usagef("--target-size and --target-ratio choose the plan of the --out file: give --out")
		}
		if reportTokens < 2 || bptt < 1 {
			return usagef("--report-tokens must be >= 2 and --bptt >= 1")
		}
		s, err := parseScheme(q.scheme, q.embedding)
		if err != nil {
			return err
		}
		lm, cp, err := loadFloat(modelPath, nonlinearity, dropout, data)
		if err != nil {
			return err
		}
		// The report runs first, so that a failure leaves no output.
		var rows []quant.LayerReport
		if report {
			ids, err := split(cp, splitName)
			if err != nil {
				return err
			}
			if len(ids) < 2 {
				return fmt.Errorf("%s: the report needs at least 2 tokens, the split has %d", filepath.Join(data, splitName+".txt"), len(ids))
			}
			if rows, err = quant.Report(c.Context(), model.NewWork(pool), lm.params, lm.model.Dropout, s, corpus.Batchify(ids, 1).Head(reportTokens), bptt); err != nil {
				return fmt.Errorf("%s: %w", modelPath, err)
			}
		}
		w := c.OutOrStdout()
		res := map[string]any{}
		if out != "" {
			fp, err := checkpoint.StateDictSize(lm.params)
			if err != nil {
				return err
			}
			qm, err := quantizeOut(c, pool, lm, cp, s, cf, fp, out, bptt)
			if err != nil {
				return fmt.Errorf("%s: %w", modelPath, err)
			}
			s = qm.scheme
			if cf.targetSet() {
				res["plan"], res["target_bytes"] = s.Plan, qm.target
			}
			st, err := os.Stat(out)
			if err != nil {
				return err
			}
			res["fp32_mb"], res["int8_mb"], res["ratio"] = float64(fp)/1e6, float64(st.Size())/1e6, float64(st.Size())/float64(fp)
			if !asJSON {
				fmt.Fprintln(w, qm.model)
				fmt.Fprintf(w, "Size (MB): %s (fp32 state_dict)\nSize (MB): %s (%s, %s)\nratio: %.3f\n",
					pyFloatMB(fp), pyFloatMB(st.Size()), out, s, float64(st.Size())/float64(fp))
			}
		}
		res["scheme"] = s.String()
		if report {
			res["report"] = reportJSON(rows)
			if !asJSON {
				printReport(w, rows)
			}
		}
		if asJSON {
			return json.NewEncoder(w).Encode(res)
		}
		return nil
	}
	return c
}

type reportRow struct {
	Layer     string    `json:"layer"`
	Module    string    `json:"module"`
	SQNR      *float64  `json:"sqnr_db"` // null for +Inf
	Loss      jsonFloat `json:"loss"`
	LossDelta jsonFloat `json:"loss_delta"`
	KL        jsonFloat `json:"kl"`
	Top1      jsonFloat `json:"top1"`
}

func reportJSON(rows []quant.LayerReport) []reportRow {
	var fp float64
	for _, r := range rows {
		if r.Name == "fp32" {
			fp = r.Loss
		}
	}
	out := make([]reportRow, len(rows))
	for i, r := range rows {
		mod := r.Module
		if r.Name == "fp32" {
			mod = "float32 model"
		}
		out[i] = reportRow{Layer: r.Name, Module: mod, Loss: jsonFloat(r.Loss), LossDelta: jsonFloat(r.Loss - fp),
			KL: jsonFloat(r.KL), Top1: jsonFloat(r.Top1)}
		if !math.IsInf(r.SQNR, 0) && !math.IsNaN(r.SQNR) {
			v := r.SQNR
			out[i].SQNR = &v
		}
	}
	return out
}

// printReport prints the report as a table: layer, SQNR, loss with only
// that layer quantized, that loss minus the fp32 loss, and that model's KL
// divergence and top-1 agreement with fp32.
func printReport(w io.Writer, rows []quant.LayerReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "layer\tSQNR (dB)\tloss\tloss - fp32\tkl\ttop1\tmodule")
	for _, r := range reportJSON(rows) {
		sq := "inf"
		if r.SQNR != nil {
			sq = fmt.Sprintf("%.2f", *r.SQNR)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.5f\t%+.5f\t%.3g\t%.4f\t%s\n", r.Layer, sq, r.Loss, r.LossDelta, r.KL, r.Top1, r.Module)
	}
	tw.Flush()
}

// sweepRow is one row of quantize --sweep, and its JSON object.
type sweepRow struct {
	Scheme        string    `json:"scheme"`
	Bytes         int64     `json:"bytes"`
	BitsPerWeight float64   `json:"bits_per_weight"`
	Loss          jsonFloat `json:"loss"`
	LossDelta     jsonFloat `json:"loss_delta"`
	KL            jsonFloat `json:"kl"`
	Top1          jsonFloat `json:"top1"`
}

// runSweep quantizes the model with every scheme of quant.SweepSchemes,
// writes each file as --out would (to a temporary folder, to take its
// size) and compares all of them with the float32 model in one pass over
// the split.
func runSweep(c *cobra.Command, pool *parallel.Pool, modelPath, nonlinearity string, dropout float64, data, splitName string, maxTokens, bptt int, asJSON bool, chartPath string, cf calibFlags) error {
	if chartPath != "" {
		if ext := strings.ToLower(filepath.Ext(chartPath)); ext != ".png" && ext != ".svg" {
			return usagef("--chart %s: want a .png or .svg file name", chartPath)
		}
	}
	lm, cp, err := loadFloat(modelPath, nonlinearity, dropout, data)
	if err != nil {
		return err
	}
	ids, err := split(cp, splitName)
	if err != nil {
		return err
	}
	b := corpus.Batchify(ids, 1)
	if maxTokens > 0 {
		b = b.Head(maxTokens)
	}
	if b.Steps < 2 {
		return fmt.Errorf("%s: the sweep needs at least 2 tokens, the %s split has %d", data, splitName, b.Steps)
	}
	dir, err := os.MkdirTemp("", "lstmq-sweep-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	params := int64(0)
	for _, t := range lm.params.Tensors() {
		params += int64(len(*t.Data))
	}
	schemes, cal, err := sweepSchemes(c, pool, lm, cp, cf, bptt)
	if err != nil {
		return err
	}
	rows := make([]sweepRow, len(schemes))
	models := make([]*model.Model, len(schemes))
	words := cp.Dict.Words()
	for i, s := range schemes {
		qm, err := quant.QuantizeCalibrated(lm.params, s, cal)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", modelPath, s, err)
		}
		qm.Dropout = lm.model.Dropout // as quantize --out writes it
		path := filepath.Join(dir, s.String()+".safetensors")
		if err := quant.Save(path, qm, words, nil); err != nil {
			return err
		}
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		os.Remove(path)
		tb, err := quant.TensorBytes(qm)
		if err != nil {
			return err
		}
		rows[i] = sweepRow{Scheme: s.String(), Bytes: st.Size(), BitsPerWeight: 8 * float64(tb) / float64(params)}
		models[i] = qm
	}
	fmt.Fprintf(c.ErrOrStderr(), "sweep: %d schemes against float32 on %d tokens of %s\n", len(schemes), (b.Steps-1)*b.Batch, splitName)
	fpLoss, agree, err := quant.Compare(c.Context(), model.NewWork(pool), lm.model, models, b, bptt)
	if err != nil {
		return fmt.Errorf("%s: %w", modelPath, err)
	}
	for i, a := range agree {
		rows[i].Loss, rows[i].LossDelta = jsonFloat(a.Loss), jsonFloat(a.Loss-fpLoss)
		rows[i].KL, rows[i].Top1 = jsonFloat(a.KL), jsonFloat(a.Top1)
	}
	if chartPath != "" {
		fpBytes, err := checkpoint.StateDictSize(lm.params)
		if err != nil {
			return err
		}
		pts := []chart.Point{{Label: "fp32 (state_dict)", SizeMB: float64(fpBytes) / 1e6, Mark: true}}
		for _, r := range rows {
			pts = append(pts, chart.Point{Label: r.Scheme, SizeMB: float64(r.Bytes) / 1e6, LossDelta: float64(r.LossDelta), Mark: r.Scheme == "pytorch"})
		}
		title := fmt.Sprintf("%s: size and loss − fp32 loss (%.5f), %d tokens of %s", filepath.Base(modelPath), fpLoss, (b.Steps-1)*b.Batch, splitName)
		if err := chart.WriteFrontier(chartPath, title, pts); err != nil {
			return err
		}
	}
	w := c.OutOrStdout()
	if asJSON {
		return json.NewEncoder(w).Encode(rows)
	}
	fmt.Fprintf(w, "fp32 loss %.6f on %d tokens of %s\n", fpLoss, (b.Steps-1)*b.Batch, splitName)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scheme\tbytes\tbits/weight\tloss\tloss - fp32\tkl\ttop1")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.6f\t%+.6f\t%.3g\t%.4f\n", r.Scheme, r.Bytes, r.BitsPerWeight, r.Loss, r.LossDelta, r.KL, r.Top1)
	}
	return tw.Flush()
}

// sweepSchemes returns quant.SweepSchemes and the mixed plans chosen for
// quant.SweepTargets, with the calibration statistics of --calib that the
// -imatrix and -gptq schemes need.
func sweepSchemes(c *cobra.Command, pool *parallel.Pool, lm *loaded, cp *corpus.Corpus, cf calibFlags, bptt int) ([]quant.Scheme, *quant.Calibration, error) {
	if err := cf.check(); err != nil {
		return nil, nil, err
	}
	ids, err := cf.calibIDs(cp, "--data")
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(c.ErrOrStderr(), "sweep: calibrating on %d tokens of %s\n", len(ids), cf.split)
	cal, err := quant.Calibrate(c.Context(), lm.params, ids)
	if err != nil {
		return nil, nil, err
	}
	options, err := quant.Sensitivity(c.Context(), model.NewWork(pool), lm.params, quant.Scheme{}, corpus.Batchify(ids, 1), bptt)
	if err != nil {
		return nil, nil, err
	}
	fp, err := checkpoint.StateDictSize(lm.params)
	if err != nil {
		return nil, nil, err
	}
	overhead, err := planOverhead(lm.params, cp.Dict.Words())
	if err != nil {
		return nil, nil, err
	}
	schemes := quant.SweepSchemes()
	for _, r := range quant.SweepTargets {
		plan, err := quant.ChoosePlan(options, int64(r*float64(fp))-overhead, quant.Scheme{})
		if err != nil {
			continue // a target below the smallest plan
		}
		if !slices.Contains(schemes, plan) {
			schemes = append(schemes, plan)
		}
	}
	return schemes, cal, nil
}

// loadFloat reads a float32 model to quantize and the corpus of data,
// whose dictionary must be the model's.
func loadFloat(modelPath, nonlinearity string, dropout float64, data string) (*loaded, *corpus.Corpus, error) {
	lm, err := loadModel(modelPath, nonlinearity, dropout)
	if err != nil {
		return nil, nil, err
	}
	if lm.params == nil {
		return nil, nil, fmt.Errorf("%s: already quantized (%s); give the float32 .pth", modelPath, lm.quant)
	}
	cp, err := loadCorpus(data)
	if err != nil {
		return nil, nil, err
	}
	if err := lm.checkVocab(data, cp.Dict); err != nil {
		return nil, nil, err
	}
	return lm, cp, nil
}
