package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newNextCmd() *cobra.Command {
	var (
		k      int
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "next --model M --data DIR [-k 5] \"CONTEXT\"",
		Short: "Print the most likely next words after a context, with their probabilities",
		Args:  cobra.MaximumNArgs(1),
	}
	lf := addLibFlags(c, 0)
	c.Flags().IntVarP(&k, "k", "k", 5, "how many words")
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	c.RunE = func(c *cobra.Command, args []string) error {
		if k < 1 {
			return usagef("-k must be >= 1, got %d", k)
		}
		m, err := lf.open()
		if err != nil {
			return err
		}
		context := strings.Join(args, " ")
		s := m.NewSession()
		if err := s.Feed(c.Context(), context); err != nil {
			return fmt.Errorf("context: %w", err)
		}
		cands := s.Next(k)
		out := c.OutOrStdout()
		if asJSON {
			type cand struct {
				Word string  `json:"word"`
				ID   int32   `json:"id"`
				Prob float64 `json:"prob"`
			}
			r := struct {
				Context    string `json:"context"`
				Candidates []cand `json:"candidates"`
			}{Context: context, Candidates: []cand{}}
			for _, cd := range cands {
				r.Candidates = append(r.Candidates, cand{cd.Word, cd.ID, cd.Prob})
			}
			return json.NewEncoder(out).Encode(r)
		}
		for _, cd := range cands {
			fmt.Fprintf(out, "%s\t%.6f\n", cd.Word, cd.Prob)
		}
		return nil
	}
	return c
}
