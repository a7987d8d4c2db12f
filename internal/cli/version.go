package cli

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

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
			fmt.Fprintf(c.OutOrStdout(), "lstmq %s (%s, %s/%s)\nkernels: fp32 %s, int8 %s (this CPU runs fp32 %s and int8 %s; LSTMQ_CPU caps them, -tags purego forces generic)\n",
				Version, runtime.Version(), runtime.GOOS, runtime.GOARCH, f32.Kernels.Active(), q8.Kernels.Active(),
				strings.Join(f32.Kernels.Available(), " "), strings.Join(q8.Kernels.Available(), " "))
			return nil
		},
	}
}
