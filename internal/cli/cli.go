package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lstmq/lstmq/internal/atomicfile"
	"github.com/lstmq/lstmq/internal/parallel"
)

// usageError marks an error as bad usage (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// Main runs lstmq with args and returns the process exit code. A panic
// is not recovered: tests and fuzzers calling Main see it. The lstmq
// command calls Run, which reports it.
func Main(args []string, stdout, stderr io.Writer) int {
	return MainContext(context.Background(), args, stdout, stderr)
}

// DebugEnv is the environment variable that, set to 1, makes Run print
// the stack of an internal error.
const DebugEnv = "LSTMQ_DEBUG"

// Run is MainContext for the lstmq process, the one place a panic is
// recovered: a panic of the command (a bug: bad input is an error, never a
// panic) becomes one line on stderr, "lstmq: internal error: <value>",
// and exit code 1; with LSTMQ_DEBUG=1 the stack follows. A panic in
// another goroutine ends the process as Go does.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if p := recover(); p != nil {
			code = internalError(stderr, p, debug.Stack(), os.Getenv(DebugEnv) == "1")
		}
	}()
	return MainContext(ctx, args, stdout, stderr)
}

// internalError reports the panic value p on one line, and the stack if
// asked to; it returns the exit code, 1.
func internalError(stderr io.Writer, p any, stack []byte, withStack bool) int {
	msg := strings.Join(strings.Fields(fmt.Sprint(p)), " ")
	if withStack {
		fmt.Fprintf(stderr, "lstmq: internal error: %s\n%s", msg, stack)
	} else {
		fmt.Fprintf(stderr, "lstmq: internal error: %s (%s=1 shows the stack)\n", msg, DebugEnv)
	}
	return 1
}

// MainContext is Main under ctx: commands that take long stop soon after
// ctx is cancelled (cmd/lstmq cancels it on SIGINT and SIGTERM), and
// train keeps its best model.
func MainContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root, finish := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if ferr := finish(); err == nil {
		err = ferr
	}
	if err == nil {
		return 0
	}
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", " ")
	fmt.Fprintf(stderr, "lstmq: %s\n", msg)
	var ue usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		return 2
	}
	return 1
}

// isCobraUsage recognises the errors cobra itself returns for bad flags,
// unknown commands and wrong argument counts.
func isCobraUsage(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument",
		"invalid argument", "accepts ", "requires at least", "requires at most", "required flag"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// newRoot builds the command tree. finish must be called once the command
// has run, failed or not: it stops the CPU profile, if one was started, and
// commits its file (written atomically, as every file lstmq writes).
func newRoot(stdout, stderr io.Writer) (root *cobra.Command, finish func() error) {
	root = &cobra.Command{
		Use:           "lstmq",
		Short:         "Run, quantize and train word-level LSTM language models",
		SilenceUsage:  true,
		SilenceErrors: true,
		CompletionOptions: cobra.CompletionOptions{
			DisableDefaultCmd: true,
		},
	}
	var profile string
	var profFile *atomicfile.File
	root.PersistentFlags().StringVar(&profile, "cpuprofile", "", "write a CPU profile (go tool pprof) of the command to this file")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if profile == "" {
			return nil
		}
		f, err := atomicfile.Create(profile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Abort()
			return fmt.Errorf("%s: %w", profile, err)
		}
		profFile = f
		return nil
	}
	finish = func() error {
		if profFile == nil {
			return nil
		}
		pprof.StopCPUProfile()
		f := profFile
		profFile = nil
		return f.Commit()
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newEvalCmd(),
		newGenerateCmd(),
		newScoreCmd(),
		newNextCmd(),
		newInspectCmd(),
		newVocabCmd(),
		newQuantizeCmd(),
		newBenchCmd(),
		newDataCmd(),
		newTutorialCmd(),
		newTrainCmd(),
		newVersionCmd(),
		newServeCmd(),
		newLoadtestCmd(),
	)
	return root, finish
}

const threadsUsage = "worker goroutines for the matrix products (0: all cores)"

// addThreads adds --threads to c; the returned func checks it and gives
// the pool the command's products run on.
func addThreads(c *cobra.Command) func() (*parallel.Pool, error) {
	n := c.Flags().Int("threads", 0, threadsUsage)
	return func() (*parallel.Pool, error) {
		if *n < 0 {
			return nil, usagef("--threads must be >= 0, got %d", *n)
		}
		return parallel.NewPool(*n), nil
	}
}
