package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lstmq/lstmq/internal/atomicfile"
	"github.com/lstmq/lstmq/internal/bench"
)

func newBenchCmd() *cobra.Command {
	var (
		cfg              bench.Config
		schemes, jsonOut string
		roofline         bool
		nonlinearity     string
	)
	c := &cobra.Command{
		Use:   "bench --model M.pth --data DIR",
		Short: "Time lstmq against PyTorch and ONNX Runtime on the tutorial's evaluation",
		Long: `Time lstmq (fp32 and each int8 scheme) and the anchors (PyTorch and ONNX Runtime,
fp32 and int8, from ../shared/bench/anchors.sh) on the same checkpoint and test
tokens, one thread, alternating for --rounds rounds, and print one table: size,
loss, median seconds, time ratios, peak memory; then batch-1 generation speed
and the kernels' roofline on the decoder's shape.

The anchors need Debian's python3-torch and Node.js (anchors.sh installs them);
lstmq itself needs neither. --anchors "" times lstmq alone.`,
		Args: cobra.NoArgs,
	}
	f := c.Flags()
	flagModel(f, &cfg.Model, &nonlinearity)
	flagData(f, &cfg.Data)
	f.IntVar(&cfg.MaxTokens, "max-tokens", 20000, "first N test tokens (0: all)")
	f.IntVar(&cfg.Rounds, "rounds", 3, "alternating rounds")
	f.StringVar(&schemes, "schemes", "pytorch,channel-act8,channel-act8-emb8", "comma-separated int8 schemes to time")
	f.StringVar(&cfg.Anchors, "anchors", filepath.Join("..", "shared", "bench", "anchors.sh"), "anchors.sh (\"\": skip PyTorch and ONNX Runtime)")
	f.StringVar(&cfg.Python, "python", "/usr/bin/python3", "Python with torch, for PyTorch's generation speed")
	f.StringVar(&cfg.TorchGen, "torch-generate", filepath.Join("bench", "torch_generate.py"), "PyTorch generation script (\"\": skip)")
	f.IntVar(&cfg.GenWords, "gen-words", 1000, "words for the generation speed (0: skip)")
	f.StringVar(&jsonOut, "json", "", "also write all runs as JSON to this file")
	f.BoolVar(&roofline, "roofline", true, "measure the kernels on the decoder's shape")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if cfg.Model == "" || cfg.Data == "" {
			return usagef("--model and --data are required")
		}
		if cfg.MaxTokens < 0 || cfg.Rounds < 1 || cfg.GenWords < 0 {
			return usagef("--max-tokens and --gen-words must be >= 0, --rounds >= 1")
		}
		if schemes != "" {
			cfg.Schemes = strings.Split(schemes, ",")
		}
		for _, p := range []*string{&cfg.Anchors, &cfg.TorchGen} {
			if *p != "" {
				if _, err := os.Stat(*p); err != nil {
					return fmt.Errorf("%v (give its path, or \"\" to skip it)", err)
				}
			}
		}
		// Check the inputs here, with the messages of the other commands,
		// rather than as the failure of a child process.
		lm, err := loadModel(cfg.Model, nonlinearity, 0.5)
		if err != nil {
			return err
		}
		if lm.params == nil {
			return fmt.Errorf("%s: already quantized (%s); give the float32 .pth", cfg.Model, lm.quant)
		}
		cp, err := loadCorpus(cfg.Data)
		if err != nil {
			return err
		}
		if err := lm.checkVocab(cfg.Data, cp.Dict); err != nil {
			return err
		}
		ntok, nhid := lm.model.Tokens(), lm.model.RNN.Hidden()
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		cfg.Exe = exe
		dir, err := os.MkdirTemp("", "lstmq-bench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.WorkDir = dir
		cfg.Log = c.ErrOrStderr()
		ctx := c.Context()
		res, err := bench.Compare(ctx, cfg)
		if err != nil {
			return err
		}
		out := c.OutOrStdout()
		res.WriteTable(out, cfg)
		if roofline {
			fmt.Fprintln(out)
			fmt.Fprint(out, bench.MeasureRoofline(25, ntok, nhid, time.Second))
		}
		if jsonOut != "" {
			return atomicfile.WriteFile(jsonOut, 0o644, func(w io.Writer) error {
				e := json.NewEncoder(w)
				e.SetIndent("", "  ")
				return e.Encode(res)
			})
		}
		return nil
	}
	return c
}
