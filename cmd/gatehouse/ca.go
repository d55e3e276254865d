package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/pki"
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
	c.AddCommand(newCAExport(g), newCATrust(g), newCAUntrust(g), newCAStrict(g), newCAList(g), newCAPassphrase(g),
		newCACRL(g), newCARenewal(g), newCAIssuer(g))
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
	var strict, autoRegister bool
	c := &cobra.Command{
		Use:   "trust FILE",
		Short: "Trust a CA (or chain) that issued your devices' certificates",
		Long: `Trust a CA that operators bring. By default it is strict: only certificates
imported beforehand with 'gatehouse cert import' are accepted. With
--auto-register, certificates it issued are registered on first use (once the
device has proved it holds the key). Switch later with 'gatehouse ca strict'.`,
		Example: "  gatehouse ca trust factory-ca.pem\n  gatehouse ca trust partner-ca.pem --auto-register",
		Args:    exactArgs(1, "trust needs one FILE with a PEM CA certificate or chain"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strict && autoRegister {
				return usageErr{Err: errors.New("--strict and --auto-register exclude each other")}
			}
			pem, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("read CA file: %w", err)
			}
			svc, done, err := g.service()
			if err != nil {
				return err
			}
			defer done()
			cas, err := svc.TrustCA(cmd.Context(), pem, !autoRegister)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(cas)
			}
			for _, ca := range cas {
				printf(g.stdout, "trusted %s (%s), %s\n", ca.Subject, ca.ID[:16], caMode(ca))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&strict, "strict", false, "accept only certificates imported beforehand (the default)")
	c.Flags().BoolVar(&autoRegister, "auto-register", false, "register unknown certificates it issued on first use")
	return c
}

// caMode says how a trusted CA treats certificates it issued that are not
// registered here.
func caMode(ca store.CA) string {
	if ca.Strict {
		return "strict"
	}
	return "auto-register"
}

func newCAUntrust(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "untrust NAME",
		Short: "Stop trusting an operator's CA and drop the sessions that relied on it",
		Long: `Remove an operator-trusted CA, named by its common name, its subject or a
prefix of its ID (see 'gatehouse ca list'). Certificates it issued are refused
from then on; live sessions that relied on it are dropped. Prints how many.`,
		Example: "  gatehouse ca untrust \"Partner CA\"",
		Args:    exactArgs(1, "untrust needs one CA NAME (common name, subject or ID prefix)"),
		RunE: g.withService(func(cmd *cobra.Command, svc app.Service, args []string) error {
			r, err := svc.UntrustCA(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(r)
			}
			fmt.Fprintf(g.stdout, "untrusted %s (%s), dropped %d %s\n", r.CA.Subject, r.CA.ID[:16], r.Dropped, plural(r.Dropped, "session"))
			return nil
		}),
	}
}

func newCAStrict(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "strict NAME on|off",
		Short: "Switch an operator's CA between strict and auto-register",
		Long: `With strict on, only certificates imported beforehand are accepted from the
CA; with it off, unknown certificates it issued are registered on first use.
Certificates already registered are not affected.`,
		Example: "  gatehouse ca strict \"Partner CA\" on",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 2 || (args[1] != "on" && args[1] != "off") {
				return usageErr{Err: errors.New("strict needs a CA NAME and on or off")}
			}
			return nil
		},
		RunE: g.withService(func(cmd *cobra.Command, svc app.Service, args []string) error {
			ca, err := svc.SetCAStrict(cmd.Context(), args[0], args[1] == "on")
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(ca)
			}
			fmt.Fprintf(g.stdout, "%s (%s) is now %s\n", ca.Subject, ca.ID[:16], caMode(ca))
			return nil
		}),
	}
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
			return printList(g, cas, []string{"ROLE", "NAME", "SUBJECT", "EXPIRES", "MODE", "ID"}, func(ca store.CA) []string {
				mode, name := "", ca.Name
				switch {
				case ca.Role == store.RoleTrusted:
					mode = caMode(ca)
				case ca.Suspended:
					mode = "suspended"
				}
				if name == "" && ca.Role != store.RoleTrusted {
					name = pki.DefaultIssuer
				}
				return []string{string(ca.Role), name, ca.Subject, when(ca.NotAfter), mode, ca.ID[:16]}
			})
		}),
	}
}

func newCACRL(g *globals) *cobra.Command {
	var issuer, out string
	c := &cobra.Command{
		Use:   "crl --out FILE",
		Short: "Write the issuing CA's certificate revocation list (DER)",
		Long: `Write the current CRL of an issuing CA, signed by it: revoked certificates
(reason unspecified) and suspended ones (certificateHold, removed again on
reactivation). The list is built from the live state, so it reflects every
change at once; it is valid for 24 hours. A daemon started with --http also
serves it at /crl/NAME.crl, and answers OCSP at /ocsp.`,
		Example: `  gatehouse ca crl --out gatehouse.crl
  openssl crl -inform DER -in gatehouse.crl -noout -text`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageErr{Err: errors.New("--out FILE is required (use - for stdout)")}
			}
			svc, done, err := g.serviceFor(app.AccessReadOnly) // the CRL is built from the live state, nothing stored
			if err != nil {
				return err
			}
			defer done()
			der, err := svc.CRL(cmd.Context(), issuer)
			if err != nil {
				return err
			}
			if out == "-" {
				_, err = g.stdout.Write(der)
				return err
			}
			if err := os.WriteFile(out, der, 0o644); err != nil {
				return fmt.Errorf("write CRL: %w", err)
			}
			fmt.Fprintf(g.stderr, "CRL written to %s\n", out)
			return nil
		},
	}
	c.Flags().StringVar(&issuer, "issuer", pki.DefaultIssuer, "issuing CA NAME")
	c.Flags().StringVar(&out, "out", "", "write the DER CRL to FILE (- for stdout)")
	return c
}

func newCARenewal(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "renewal on|off",
		Short: "Let devices renew their own certificates over MQTT, or stop them",
		Long: `A device connected with a valid certificate may publish a CSR for its own CN
to $gatehouse/certificates/csr and receives its successor on the response
topic; the old certificate is retired on the successor's first use. On by
default; off refuses every request.`,
		Example:   "  gatehouse ca renewal off",
		ValidArgs: []string{"on", "off"},
		Args:      exactArgs(1, "renewal needs on or off"),
		RunE: g.withService(func(cmd *cobra.Command, svc app.Service, args []string) error {
			if args[0] != "on" && args[0] != "off" {
				return usageErr{Err: fmt.Errorf("renewal %q: use on or off", args[0])}
			}
			if err := svc.SetRenewal(cmd.Context(), args[0] == "on"); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "in-band renewal %s\n", args[0])
			return nil
		}),
	}
}
