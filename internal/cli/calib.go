package cli

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lstmq/lstmq/corpus"
	"github.com/lstmq/lstmq/internal/parallel"
	"github.com/lstmq/lstmq/model"
	"github.com/lstmq/lstmq/quant"
)

// calibFlags are quantize's calibration and target-size flags.
type calibFlags struct {
	split       string
	tokens      int
	targetMB    float64
	targetRatio float64
}

func flagCalib(f *pflag.FlagSet, cf *calibFlags) {
	f.StringVar(&cf.split, "calib", "valid", "split whose first --calib-tokens tokens calibrate -imatrix, -gptq and --target-size")
	f.IntVar(&cf.tokens, "calib-tokens", 8192, "calibration tokens (at least 256)")
	f.Float64Var(&cf.targetMB, "target-size", 0, "choose each matrix's bits (and the embedding's) so that the --out file is at most this many MB (10^6 bytes), at the least measured loss of accuracy")
	f.Float64Var(&cf.targetRatio, "target-ratio", 0, "as --target-size, as a fraction of the float32 state_dict's size (e.g. 0.15)")
}

func (cf calibFlags) targetSet() bool { return cf.targetMB != 0 || cf.targetRatio != 0 }

func (cf calibFlags) check() error {
	switch {
	case cf.targetMB < 0 || cf.targetRatio < 0:
		return usagef("--target-size and --target-ratio must be positive")
	case cf.targetMB > 0 && cf.targetRatio > 0:
		return usagef("give --target-size or --target-ratio, not both")
	case cf.tokens < quant.MinCalibTokens:
		return usagef("--calib-tokens must be at least %d", quant.MinCalibTokens)
	}
	return nil
}

// calibIDs returns the calibration tokens of cp, refusing a split shorter
// than quant.MinCalibTokens.
func (cf calibFlags) calibIDs(cp *corpus.Corpus, data string) ([]int32, error) {
	ids, err := split(cp, cf.split)
	if err != nil {
		return nil, err
	}
	if len(ids) < quant.MinCalibTokens {
		return nil, fmt.Errorf("%s: calibration split %s has %d tokens, fewer than the %d calibration needs",
			filepath.Join(data, cf.split+".txt"), cf.split, len(ids), quant.MinCalibTokens)
	}
	return ids[:min(len(ids), cf.tokens)], nil
}

// quantized is the model quantize --out writes, with its scheme (the plan
// under a target) and the target in bytes (0 without one).
type quantized struct {
	model  *model.Model
	scheme quant.Scheme
	target int64
}

// quantizeOut quantizes lm as s says (calibrating when s asks for it) or,
// under a target size, as the plan chosen for it, and saves it to out.
// fp is the float32 state_dict's size.
func quantizeOut(c *cobra.Command, pool *parallel.Pool, lm *loaded, cp *corpus.Corpus, s quant.Scheme, cf calibFlags, fp int64, out string, bptt int) (*quantized, error) {
	var (
		cal *quant.Calibration
		ids []int32
		err error
	)
	if s.Calib != "" || cf.targetSet() {
		if ids, err = cf.calibIDs(cp, "--data"); err != nil {
			return nil, err
		}
	}
	if s.Calib != "" {
		fmt.Fprintf(c.ErrOrStderr(), "calibrating on %d tokens of %s\n", len(ids), cf.split)
		if cal, err = quant.Calibrate(c.Context(), lm.params, ids); err != nil {
			return nil, err
		}
	}
	words := cp.Dict.Words()
	if !cf.targetSet() {
		qm, err := quant.QuantizeCalibrated(lm.params, s, cal)
		if err != nil {
			return nil, err
		}
		qm.Dropout = lm.model.Dropout // the file's own when it records it, else --dropout
		return &quantized{model: qm, scheme: s}, quant.Save(out, qm, words, nil)
	}
	target := int64(cf.targetMB * 1e6)
	if cf.targetRatio > 0 {
		target = int64(cf.targetRatio * float64(fp))
	}
	fmt.Fprintf(c.ErrOrStderr(), "plan: measuring each matrix's sensitivity on %d tokens of %s\n", len(ids), cf.split)
	options, err := quant.Sensitivity(c.Context(), model.NewWork(pool), lm.params, s, corpus.Batchify(ids, 1), bptt)
	if err != nil {
		return nil, err
	}
	meta := map[string]string{"target_bytes": strconv.FormatInt(target, 10)}
	// The bytes outside the plan's matrices: the biases, and the header,
	// the vocabulary most of all, estimated, then measured: a plan over
	// the target shrinks the next one's budget by the excess.
	overhead, err := planOverhead(lm.params, words)
	if err != nil {
		return nil, err
	}
	for range 4 {
		if least := quant.MinPlanBytes(options) + overhead; target < least {
			return nil, fmt.Errorf("target of %d bytes (%.2f MB) is below the smallest reachable file, %d bytes (%.2f MB, 2-bit weights and embedding everywhere)",
				target, float64(target)/1e6, least, float64(least)/1e6)
		}
		plan, err := quant.ChoosePlan(options, target-overhead, s)
		if err != nil {
			return nil, err
		}
		qm, err := quant.QuantizeCalibrated(lm.params, plan, cal)
		if err != nil {
			return nil, err
		}
		qm.Dropout = lm.model.Dropout
		size, err := quant.FileSize(qm, words, meta)
		if err != nil {
			return nil, err
		}
		if size <= target {
			fmt.Fprintf(c.ErrOrStderr(), "plan: %s (%d bytes, target %d)\n", plan, size, target)
			return &quantized{model: qm, scheme: plan, target: target}, quant.Save(out, qm, words, meta)
		}
		overhead += size - target
	}
	return nil, fmt.Errorf("no plan fits %d bytes", target)
}

// planOverhead estimates the bytes of a model file outside a plan's
// matrices: the float32 biases, and the header, the vocabulary most of all
// (its JSON) plus 16 KiB for the tensors' entries and the other metadata.
func planOverhead(p *model.Params, words []string) (int64, error) {
	vj, err := json.Marshal(words)
	if err != nil {
		return 0, err
	}
	return quant.FixedBytes(p) + int64(len(vj)) + 16<<10, nil
}
