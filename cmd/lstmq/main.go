// Command lstmq runs, quantizes and trains word-level LSTM language models.
// Run "lstmq help" for the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/lstmq/lstmq/internal/cli"
)

func main() {
	// The first SIGINT or SIGTERM cancels the command's context (train
	// keeps its best model, score stops after the lines it has written);
	// a second one ends the process as usual.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	os.Exit(cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}
