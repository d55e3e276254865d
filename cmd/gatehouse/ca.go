package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

func newCA(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:     "ca",
		Short:   "Export the root certificate and manage trusted CAs",
		Example: "  gatehouse ca export --out ca.pem\n  gatehouse ca list",
		Args:    cobra.NoArgs,
		RunE:    needsSubcommand,
	}
	c.AddCommand(newCAExport(g), newCATrust(g), newCAList(g))
	return c
}

func newCAExport(g *globals) *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "export",
		Short: "Print or write the root certificate clients need (ca.pem)",
		Long: `Export the root certificate that devices use to verify the server, the
terminal's "get root certificate". Only the public certificate leaves the store.`,
		Example: "  gatehouse ca export --out ca.pem",
		Args:    cobra.NoArgs,
		RunE: g.withReader(func(cmd *cobra.Command, svc app.Service, _ []string) error {
			if out != "" {
				if err := app.WriteRootPEM(cmd.Context(), svc, out); err != nil {
					return err
				}
			}
			pem, err := svc.RootPEM(cmd.Context())
			switch {
			case err != nil:
				return err
			case g.json:
				return g.printJSON(struct {
					File string `json:"file,omitempty"`
					PEM  string `json:"pem"`
				}{out, string(pem)})
			case out == "":
				_, err = g.stdout.Write(pem)
			}
			return err
		}),
	}
	c.Flags().StringVar(&out, "out", "", "write to FILE instead of stdout")
	return c
}

func newCATrust(g *globals) *cobra.Command {
	var strict bool
	c := &cobra.Command{
		Use:   "trust FILE",
		Short: "Trust a CA (or chain) that issued your devices' certificates",
		Long: `Trust a CA that operators bring. Certificates it issued are accepted and
registered on first use; with --strict only certificates imported beforehand
with 'gatehouse cert import' are accepted.`,
		Example: "  gatehouse ca trust factory-ca.pem --strict",
		Args:    exactArgs(1, "trust needs one FILE with a PEM CA certificate or chain"),
		RunE: func(cmd *cobra.Command, args []string) error {
			pem, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("read CA file: %w", err)
			}
			svc, done, err := g.service()
			if err != nil {
				return err
			}
			defer done()
			cas, err := svc.TrustCA(cmd.Context(), pem, strict)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(cas)
			}
			for _, ca := range cas {
				printf(g.stdout, "trusted %s (%s)\n", ca.Subject, ca.ID[:16])
			}
			return nil
		},
	}
	c.Flags().BoolVar(&strict, "strict", false, "accept only certificates imported beforehand")
	return c
}

func newCAList(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the root, issuing and trusted CAs",
		Example: "  gatehouse ca list --json",
		Args:    cobra.NoArgs,
		RunE: g.withReader(func(cmd *cobra.Command, svc app.Service, _ []string) error {
			cas, err := svc.ListCAs(cmd.Context())
			if err != nil {
				return err
			}
			return printList(g, cas, []string{"ROLE", "SUBJECT", "EXPIRES", "MODE", "ID"}, func(ca store.CA) []string {
				strict := ""
				if ca.Strict {
					strict = "strict"
				}
				return []string{string(ca.Role), ca.Subject, when(ca.NotAfter), strict, ca.ID[:16]}
			})
		}),
	}
}
