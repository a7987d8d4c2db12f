package cli

import (
	"bufio"

	"github.com/spf13/cobra"
)

func newVocabCmd() *cobra.Command {
	var data string
	c := &cobra.Command{
		Use:   "vocab --data DIR",
		Short: "Print the corpus dictionary, one word per line in id order",
		Args:  cobra.NoArgs,
	}
	flagData(c.Flags(), &data)
	c.RunE = func(c *cobra.Command, _ []string) error {
		cp, err := loadCorpus(data)
		if err != nil {
			return err
		}
		w := bufio.NewWriter(c.OutOrStdout())
		for _, word := range cp.Dict.Words() {
			w.WriteString(word)
			w.WriteByte('\n')
		}
		return w.Flush()
	}
	return c
}
