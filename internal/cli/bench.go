package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lstmq/lstmq/internal/atomicfile"
	"github.com/lstmq/lstmq/internal/bench"
	"github.com/lstmq/lstmq/model"
)

func newBenchCmd() *cobra.Command {
	var (
		cfg              bench.Config
		schemes, jsonOut string
		roofline         bool
		threads, batches []int
	)
	c := &cobra.Command{
		Use:   "bench --model M.pth --data DIR",
		Short: "Time lstmq against PyTorch and ONNX Runtime on the tutorial's evaluation",
		Long: `Time lstmq (fp32 and each int8 scheme) and the anchors (PyTorch fp32 and int8,
ONNX Runtime fp32 and, for an LSTM, int8: ONNX Runtime has no int8 GRU or RNN)
on the same checkpoint and test tokens, alternating for --rounds rounds, with
--threads threads and --batch-size sequences in every run, and print one table:
the model's kind, size, loss, median seconds, time ratios, peak memory; then
generation speed and the kernels' roofline on the decoder's shape.

--threads 1,2 and --batch-size 1,16 time every combination in every round
(a section of the table each) and add a table of tokens/s at each, and the
generation speed at each thread count.

The anchors are the project's bench/anchors/anchors.sh (found from the working
directory up, as in a checkout); they need Debian's python3-torch and
onnxruntime-node (the script installs what is missing, npm ci into a cache
folder); lstmq itself needs neither. --anchors "" times lstmq alone.`,
		Args: cobra.NoArgs,
	}
	f := c.Flags()
	flagModel(f, &cfg.Model, &cfg.Nonlinearity)
	flagData(f, &cfg.Data)
	f.IntVar(&cfg.MaxTokens, "max-tokens", 20000, "first N test tokens (0: all); with --batch-size B, the first N rows of batchify(test, B)")
	f.IntSliceVar(&threads, "threads", []int{1}, "threads of every run: lstmq's --threads, torch.set_num_threads, ONNX Runtime's intraOpNumThreads; a list (1,2) times each")
	f.IntSliceVar(&batches, "batch-size", []int{1}, "sequences evaluated side by side in every run (batchify(test, B)); a list (1,16) times each")
	f.IntVar(&cfg.Rounds, "rounds", 3, "alternating rounds")
	f.StringVar(&schemes, "schemes", "pytorch,channel-act8,channel-act8-emb8", "comma-separated int8 schemes to time")
	f.StringVar(&cfg.Anchors, "anchors", defaultAnchors, "the anchors script (\"\": skip PyTorch and ONNX Runtime)")
	f.StringVar(&cfg.Python, "python", "/usr/bin/python3", "Python with torch, for the anchors and PyTorch's generation speed")
	f.StringVar(&cfg.TorchGen, "torch-generate", defaultTorchGen, "PyTorch generation script (\"\": skip)")
	f.IntVar(&cfg.GenWords, "gen-words", 1000, "words for the generation speed (0: skip)")
	f.StringVar(&jsonOut, "json", "", "also write all runs as JSON to this file")
	f.BoolVar(&roofline, "roofline", true, "measure the kernels on the decoder's shape")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if cfg.Model == "" || cfg.Data == "" {
			return usagef("--model and --data are required")
		}
		if cfg.MaxTokens < 0 || cfg.Rounds < 1 || cfg.GenWords < 0 || len(threads) == 0 || len(batches) == 0 ||
			slices.Min(threads) < 1 || slices.Min(batches) < 1 {
			return usagef("--max-tokens and --gen-words must be >= 0, --rounds, --threads and --batch-size >= 1")
		}
		cfg.Threads, cfg.BatchSize = threads[0], batches[0]
		for _, b := range batches {
			for _, t := range threads {
				cfg.More = append(cfg.More, bench.Setting{Threads: t, BatchSize: b})
			}
		}
		if cfg.MaxTokens == 1 {
			return usagef("--max-tokens must be 0 (all) or at least 2: the first token has no target")
		}
		if schemes != "" {
			cfg.Schemes = strings.Split(schemes, ",")
		}
		for _, p := range []struct {
			path *string
			flag string
		}{{&cfg.Anchors, "--anchors"}, {&cfg.TorchGen, "--torch-generate"}} {
			if err := findScript(p.path, c.Flags().Changed(p.flag[2:]), p.flag); err != nil {
				return err
			}
		}
		// Check the inputs here, with the messages of the other commands,
		// rather than as the failure of a child process.
		lm, err := loadModel(cfg.Model, cfg.Nonlinearity, 0.5)
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
		cfg.Kind, cfg.Arch = lm.model.Kind().String(), arch(lm.model)
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
			fmt.Fprint(out, bench.MeasureRoofline(25*cfg.BatchSize, ntok, nhid, time.Second))
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

// The scripts' paths inside a checkout; findScript looks for them from the
// working directory up, so that `go run ./cmd/lstmq bench` finds them from
// the repository's root or any folder below it.
var (
	defaultAnchors  = filepath.Join("bench", "anchors", "anchors.sh")
	defaultTorchGen = filepath.Join("bench", "torch_generate.py")
)

// findScript checks that *path exists ("" skips the script). A default
// relative path not found in the working directory is looked for in its
// parents, and *path set to the first found.
func findScript(path *string, changed bool, flag string) error {
	if *path == "" {
		return nil
	}
	_, err := os.Stat(*path)
	if err == nil {
		return nil
	}
	if changed || filepath.IsAbs(*path) {
		return fmt.Errorf("%s: %w (give its path, or %s \"\" to skip it)", flag, err, flag)
	}
	wd, werr := os.Getwd()
	if werr != nil {
		return fmt.Errorf("%s: %w", flag, werr)
	}
	for dir := wd; ; {
		p := filepath.Join(dir, *path)
		if _, err := os.Stat(p); err == nil {
			*path = p
			return nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			break
		}
		dir = up
	}
	return fmt.Errorf("%s: %s is in an lstmq checkout, and not in %s or a folder above it (run from the checkout, give its path, or %s \"\" to skip it)",
		flag, *path, wd, flag)
}

// arch is the model's layers as PyTorch names them, on one line.
func arch(m *model.Model) string {
	r := m.RNN
	return fmt.Sprintf("Embedding(%d, %d), %s(%d, %d, num_layers=%d), Linear(%d, %d)",
		m.Tokens(), r.Input(), m.Kind().Module(), r.Input(), r.Hidden(), r.Layers(), r.Hidden(), m.Tokens())
}
