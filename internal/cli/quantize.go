package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lstmq/lstmq/checkpoint"
	"github.com/lstmq/lstmq/corpus"
	"github.com/lstmq/lstmq/model"
	"github.com/lstmq/lstmq/quant"
)

func newQuantizeCmd() *cobra.Command {
	var (
		modelPath, data, out, splitName string
		nonlinearity                    string
		q                               quantFlags
		report, asJSON                  bool
		reportTokens, bptt              int
		dropout                         float64
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

With --report, it prints for each quantized layer the SQNR of its output against
float32 and the loss when only that layer is quantized, on the first
--report-tokens tokens of --split.`,
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
	f.BoolVar(&asJSON, "json", false, "print the report (and sizes) as JSON")
	flagDropout(f, &dropout)
	c.RunE = func(c *cobra.Command, _ []string) error {
		pool, err := threads()
		if err != nil {
			return err
		}
		if out == "" && !report {
			return usagef("give --out FILE, --report, or both")
		}
		if reportTokens < 2 || bptt < 1 {
			return usagef("--report-tokens must be >= 2 and --bptt >= 1")
		}
		s, err := parseScheme(q.scheme, q.embedding)
		if err != nil {
			return err
		}
		lm, err := loadModel(modelPath, nonlinearity, dropout)
		if err != nil {
			return err
		}
		if lm.params == nil {
			return fmt.Errorf("%s: already quantized (%s); give the float32 .pth", modelPath, lm.quant)
		}
		cp, err := loadCorpus(data)
		if err != nil {
			return err
		}
		if err := lm.checkVocab(data, cp.Dict); err != nil {
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
		res := map[string]any{"scheme": s.String()}
		w := c.OutOrStdout()
		if out != "" {
			qm, err := quant.Quantize(lm.params, s)
			if err != nil {
				return fmt.Errorf("%s: %w", modelPath, err)
			}
			qm.Dropout = lm.model.Dropout // the file's own when it records it, else --dropout
			fp, err := checkpoint.StateDictSize(lm.params)
			if err != nil {
				return err
			}
			if err := quant.Save(out, qm, cp.Dict.Words(), nil); err != nil {
				return err
			}
			st, err := os.Stat(out)
			if err != nil {
				return err
			}
			res["fp32_mb"], res["int8_mb"], res["ratio"] = float64(fp)/1e6, float64(st.Size())/1e6, float64(st.Size())/float64(fp)
			if !asJSON {
				fmt.Fprintln(w, qm)
				fmt.Fprintf(w, "Size (MB): %s (fp32 state_dict)\nSize (MB): %s (%s, %s)\nratio: %.3f\n",
					pyFloatMB(fp), pyFloatMB(st.Size()), out, s, float64(st.Size())/float64(fp))
			}
		}
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
		out[i] = reportRow{Layer: r.Name, Module: mod, Loss: jsonFloat(r.Loss), LossDelta: jsonFloat(r.Loss - fp)}
		if !math.IsInf(r.SQNR, 0) && !math.IsNaN(r.SQNR) {
			v := r.SQNR
			out[i].SQNR = &v
		}
	}
	return out
}

// printReport prints the report as a table: layer, SQNR, loss with only
// that layer quantized, and that loss minus the fp32 loss.
func printReport(w io.Writer, rows []quant.LayerReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "layer\tSQNR (dB)\tloss\tloss - fp32\tmodule")
	for _, r := range reportJSON(rows) {
		sq := "inf"
		if r.SQNR != nil {
			sq = fmt.Sprintf("%.2f", *r.SQNR)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.5f\t%+.5f\t%s\n", r.Layer, sq, r.Loss, r.LossDelta, r.Module)
	}
	tw.Flush()
}
