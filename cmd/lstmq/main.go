// Command lstmq runs, quantizes and trains word-level LSTM language models.
// Run "lstmq help" for the commands.
package main

import (
	"os"

	"github.com/lstmq/lstmq/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
