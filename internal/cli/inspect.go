package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lstmq/lstmq/checkpoint"
	"github.com/lstmq/lstmq/model"
)

func newInspectCmd() *cobra.Command {
	var (
		modelPath    string
		nonlinearity string
		dropout      float64
	)
	c := &cobra.Command{
		Use:   "inspect --model M.pth",
		Short: "Print a model's structure, parameter count and serialized size",
		Args:  cobra.NoArgs,
	}
	f := c.Flags()
	flagModel(f, &modelPath, &nonlinearity)
	flagDropout(f, &dropout)
	c.RunE = func(c *cobra.Command, _ []string) error {
		lm, err := loadModel(modelPath, nonlinearity, dropout)
		if err != nil {
			return err
		}
		out := c.OutOrStdout()
		fmt.Fprintln(out, lm.model)
		p := lm.params
		if p == nil {
			// A quantized file: its float32 twin, for the size comparison.
			p = zeroParams(lm.model)
		}
		fmt.Fprintf(out, "Parameters: %d\n", checkpoint.CountParams(p))
		// The size torch.save(model.state_dict()) writes under this file's
		// name (the zip archive's folder is named after it) in the file's
		// own layout (zip or legacy, its _metadata and storage names): a
		// PyTorch state_dict's own size.
		size, err := lm.file.Layout.Size(strings.TrimSuffix(modelPath, filepath.Ext(modelPath))+".pth", p)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, "Size (MB):", pyFloatMB(size), "(fp32 state_dict)")
		if lm.params == nil {
			st, err := os.Stat(modelPath)
			if err != nil {
				return err
			}
			fmt.Fprintln(out, "Size (MB):", pyFloatMB(st.Size()), "("+lm.quant+", this file)")
			fmt.Fprintf(out, "ratio: %.3f\n", float64(st.Size())/float64(size))
		}
		return nil
	}
	return c
}

// zeroParams returns float32 parameters of m's shapes, all zero, with the
// decoder tied to the encoder when m's are.
func zeroParams(m *model.Model) *model.Params {
	v, e, h, n := m.Tokens(), m.Encoder.Dim(), m.RNN.Hidden(), m.RNN.Layers()
	p := &model.Params{Kind: m.Kind(), NToken: v, NInp: e, NHid: h, Encoder: make([]float32, v*e), DecoderB: make([]float32, v)}
	p.DecoderW = make([]float32, v*h)
	g := m.Kind().Gates() * h
	for k := range n {
		in := e
		if k > 0 {
			in = h
		}
		p.Layers = append(p.Layers, model.LayerParams{Wih: make([]float32, g*in), Whh: make([]float32, g*h),
			Bih: make([]float32, g), Bhh: make([]float32, g)})
	}
	return p
}

// pyFloatMB formats bytes/1e6 as Python's print of a float does.
func pyFloatMB(bytes int64) string {
	return fmt.Sprint(float64(bytes) / 1e6)
}
