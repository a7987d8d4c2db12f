package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/lstmq/lstmq/internal/cpu"
)

// Version is lstmq's version.
const Version = "0.1.0"

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and the kernels this CPU runs",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			fmt.Fprintf(c.OutOrStdout(), "lstmq %s (%s, %s/%s)\nkernels: %s (CPU supports %s; LSTMQ_CPU caps it)\n",
				Version, runtime.Version(), runtime.GOOS, runtime.GOARCH, cpu.Active, cpu.Supported)
			return nil
		},
	}
}
