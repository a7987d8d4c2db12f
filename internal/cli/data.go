package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lstmq/lstmq/internal/download"
)

func newDataCmd() *cobra.Command {
	var url string
	c := &cobra.Command{
		Use:   "data wikitext-2 DIR",
		Short: "Download WikiText-2 as the tutorial used it, verified by git blob id",
		Long: `Download train.txt, valid.txt and test.txt of WikiText-2 from PyTorch's
word_language_model example into DIR. Each file is checked against its git blob
id (SHA-1 of "blob <size>\0" + content) and written atomically; files already
present and correct are kept.`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 2 || args[0] != "wikitext-2" {
				return usagef("usage: lstmq data wikitext-2 DIR")
			}
			return nil
		},
	}
	c.Flags().StringVar(&url, "url", download.DefaultBaseURL, "base URL of a mirror holding the three files")
	c.RunE = func(c *cobra.Command, args []string) error {
		ctx := c.Context()
		dir := args[1]
		err := download.WikiText2(ctx, dir, download.Options{BaseURL: url, Progress: download.ProgressTo(c.ErrOrStderr())})
		if err != nil {
			return err
		}
		fmt.Fprintf(c.OutOrStdout(), "WikiText-2 is in %s (train.txt, valid.txt, test.txt verified)\n", dir)
		return nil
	}
	return c
}
