package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newVersion(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version",
		Example: "  gatehouse version --json",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if g.json {
				return g.printJSON(map[string]string{"version": version})
			}
			_, err := fmt.Fprintln(g.stdout, "gatehouse "+version)
			return err
		},
	}
}
