package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
)

func newCAIssuer(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "issuer",
		Short: "Manage issuing CAs: one per tenant, or one the operator brings",
		Long: `Client certificates are signed by an issuing CA. Besides the built-in one
("default"), 'ca issuer create NAME' makes another under Gatehouse's root (one
per tenant, as Kaa does), and 'ca issuer import NAME' adds one the operator
signed with a root kept offline. 'cert create --issuer NAME' issues from it,
ACL rules select its certificates with ca:NAME, /crl/NAME.crl publishes its
CRL, and 'ca issuer suspend NAME' refuses its whole fleet at once.`,
		Example: `  gatehouse ca issuer create tenant-a
  gatehouse cert create --cn meter-1 --issuer tenant-a
  gatehouse ca issuer suspend tenant-a`,
		Args: cobra.NoArgs,
		RunE: needsSubcommand,
	}
	c.AddCommand(newIssuerCreate(g), newIssuerImport(g), newIssuerServer(g), newIssuerSuspend(g, true), newIssuerSuspend(g, false))
	return c
}

func newIssuerCreate(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "create NAME",
		Short:   "Create another issuing CA under Gatehouse's root",
		Example: "  gatehouse ca issuer create tenant-a",
		Args:    exactArgs(1, "issuer create needs one NAME (lowercase letters, digits, dashes)"),
		RunE: g.withService(func(cmd *cobra.Command, svc app.Service, args []string) error {
			ca, err := svc.CreateIssuer(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(ca)
			}
			printf(g.stdout, "created issuing CA %s (%s), expires %s\n", args[0], ca.ID[:16], when(ca.NotAfter))
			return nil
		}),
	}
}

func newIssuerImport(g *globals) *cobra.Command {
	var certFile, keyFile string
	c := &cobra.Command{
		Use:   "import NAME --cert FILE --key FILE",
		Short: "Add an issuing CA with its key, signed by a root you keep offline",
		Long: `Import an issuing CA (Kaa's instance CA) with its private key. FILE holds the
issuing certificate followed by the root that signed it (and any CA between);
the root's key stays with you. Gatehouse then issues with it, and trusts what
it issued; devices verify the server with Gatehouse's own root (ca export).`,
		Example: "  gatehouse ca issuer import instance --cert instance-chain.pem --key instance.key",
		Args:    exactArgs(1, "issuer import needs one NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if certFile == "" || keyFile == "" {
				return usageErr{Err: errors.New("--cert FILE and --key FILE are required")}
			}
			chain, err := os.ReadFile(certFile)
			if err != nil {
				return fmt.Errorf("read --cert: %w", err)
			}
			key, err := os.ReadFile(keyFile)
			if err != nil {
				return fmt.Errorf("read --key: %w", err)
			}
			svc, done, err := g.service()
			if err != nil {
				return err
			}
			defer done()
			ca, err := svc.ImportIssuer(cmd.Context(), args[0], chain, key)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(ca)
			}
			printf(g.stdout, "imported issuing CA %s: %s (%s)\n", args[0], ca.Subject, ca.ID[:16])
			return nil
		},
	}
	c.Flags().StringVar(&certFile, "cert", "", "PEM: the issuing certificate, then its root")
	c.Flags().StringVar(&keyFile, "key", "", "PEM private key of the issuing certificate")
	return c
}

func newIssuerServer(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "server NAME",
		Short: "Have an issuing CA sign the server certificate (devices then need its root)",
		Long: `Make the issuing CA called NAME sign the broker's server certificate, so that
devices verify the server with that CA's root: after 'ca issuer import', the
root you keep offline. A running daemon rotates its certificate at once.
'ca export' then gives that root; devices holding the old ca.pem need the new
one. 'ca issuer server default' goes back to Gatehouse's own.`,
		Example: "  gatehouse ca issuer server instance\n  gatehouse ca export --out ca.pem",
		Args:    exactArgs(1, "issuer server needs one issuer NAME"),
		RunE: g.withService(func(cmd *cobra.Command, svc app.Service, args []string) error {
			if err := svc.SetServerIssuer(cmd.Context(), args[0]); err != nil {
				return err
			}
			printf(g.stdout, "the server certificate is signed by issuing CA %s; give devices the root from 'gatehouse ca export'\n", args[0])
			return nil
		}),
	}
}

func newIssuerSuspend(g *globals, suspend bool) *cobra.Command {
	use, short, verb := "suspend NAME", "Refuse every certificate an issuing CA issued and drop their sessions", "suspended"
	if !suspend {
		use, short, verb = "reactivate NAME", "Admit an issuing CA's certificates again", "reactivated"
	}
	return &cobra.Command{
		Use:     use,
		Short:   short,
		Example: "  gatehouse ca issuer " + use[:len(use)-5] + " tenant-a",
		Args:    exactArgs(1, "needs one issuer NAME"),
		RunE: g.withService(func(cmd *cobra.Command, svc app.Service, args []string) error {
			res, err := svc.SuspendIssuer(cmd.Context(), args[0], suspend)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(res)
			}
			printf(g.stdout, "%s issuing CA %s, dropped %d %s\n", verb, args[0], res.Dropped, plural(res.Dropped, "session"))
			return nil
		}),
	}
}
