package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/lstmq/lstmq/internal/cpu"
	"github.com/lstmq/lstmq/internal/f32"
	"github.com/lstmq/lstmq/internal/q8"
)

// Version is lstmq's version.
const Version = "0.1.0"

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and the kernels this CPU runs",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			fmt.Fprintf(c.OutOrStdout(), "lstmq %s (%s, %s/%s)\nkernels: fp32 %s, int8 %s (CPU supports %s; LSTMQ_CPU caps it, -tags purego forces generic)\n",
				Version, runtime.Version(), runtime.GOOS, runtime.GOARCH, f32.Level(), q8.Kernel(), cpu.Supported)
			return nil
		},
	}
}
