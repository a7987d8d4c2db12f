package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lstmq/lstmq/checkpoint"
)

func newInspectCmd() *cobra.Command {
	var (
		modelPath string
		dropout   float64
	)
	c := &cobra.Command{
		Use:   "inspect --model M.pth",
		Short: "Print a model's structure, parameter count and serialized size",
		Args:  cobra.NoArgs,
	}
	f := c.Flags()
	f.StringVar(&modelPath, "model", "", "model file")
	f.Float64Var(&dropout, "dropout", 0.5, "dropout to print (a state_dict does not record it)")
	c.RunE = func(c *cobra.Command, _ []string) error {
		lm, err := loadModel(modelPath, dropout)
		if err != nil {
			return err
		}
		out := c.OutOrStdout()
		fmt.Fprintln(out, lm.model)
		if lm.params != nil {
			fmt.Fprintf(out, "Parameters: %d\n", checkpoint.CountParams(lm.params))
			size, err := checkpoint.StateDictSize(lm.params)
			if err != nil {
				return err
			}
			fmt.Fprintln(out, "Size (MB):", pyFloatMB(size))
		}
		return nil
	}
	return c
}

// pyFloatMB formats bytes/1e6 as Python's print of a float does.
func pyFloatMB(bytes int64) string {
	return fmt.Sprint(float64(bytes) / 1e6)
}
