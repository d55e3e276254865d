package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

func newCert(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:     "cert",
		Short:   "Issue, list and manage client certificates",
		Example: "  gatehouse cert create --cn dev1\n  gatehouse cert list --state active",
		Args:    cobra.NoArgs,
		RunE:    needsSubcommand,
	}
	c.AddCommand(newCertCreate(g), newCertRenew(g), newCertSign(g), newCertImport(g), newCertList(g), newCertShow(g))
	for _, t := range []transition{
		{"suspend", "suspended", store.StateSuspended, "Suspend certificates: refuse them and drop their live connections", ""},
		{"reactivate", "reactivated", store.StateActive, "Reactivate suspended certificates", ""},
		{"revoke", "revoked", store.StateRevoked, "Revoke certificates for good and drop their live connections", "revoking is final: a revoked certificate can never be used again\n"},
	} {
		c.AddCommand(newCertTransition(g, t))
	}
	return c
}

func newCertCreate(g *globals) *cobra.Command {
	var req app.CreateRequest
	var force bool
	var p12PassFile string
	c := &cobra.Command{
		Use:   "create",
		Short: "Issue a client certificate and write ca.pem, client.crt and client.key",
		Long: `Issue a client certificate from the internal CA. Writes DIR/ca.pem (the root
that verifies the server), DIR/client.crt (leaf and intermediate) and
DIR/client.key (mode 0600). The private key is handed out once: Gatehouse
does not keep it. Prints the serial on stdout.

Other forms: --bundle also writes DIR/client.pem (chain and key in one file,
0600); --p12 FILE writes a PKCS#12 file (key, leaf and chain, 0600) for Java
and Android keystores instead of the directory (with --out, as well), under
the password in --p12-password-file or, without one, a generated password
printed once; --out - prints the chain and key as one PEM on stdout (the
serial then goes to stderr).`,
		Example: `  gatehouse cert create --cn dev1
  gatehouse cert create --cn sensor-7 --ttl 90d --key ed25519 --out /tmp/sensor-7
  gatehouse cert create --cn android-1 --p12 android-1.p12 --p12-password-file pass.txt
  gatehouse cert create --cn dev2 --out - > dev2.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("cn") && strings.TrimSpace(req.CN) == "" {
				return usageErr{Err: errors.New("--cn is empty: give a common name, or omit --cn to have one generated")}
			}
			// Checked here too, so that a bad flag is a usage error whatever
			// state the store is in.
			if _, err := pki.ParseTTL(req.TTL); err != nil {
				return usageErr{Err: err}
			}
			if _, err := pki.ParseKeyType(req.KeyType); err != nil {
				return usageErr{Err: err}
			}
			if req.OutDir == "-" && (req.P12 != "" || req.Bundle) {
				return usageErr{Err: errors.New("--out - prints the PEM bundle: it goes with neither --p12 nor --bundle")}
			}
			if p12PassFile != "" && req.P12 == "" {
				return usageErr{Err: errors.New("--p12-password-file goes with --p12 FILE")}
			}
			generated := ""
			if req.P12 != "" {
				var err error
				if req.P12Password, generated, err = p12Password(p12PassFile); err != nil {
					return err
				}
			}
			svc, done, err := g.service()
			if err != nil {
				return err
			}
			defer done()
			if req.OutDir == "-" {
				return g.createToStdout(cmd.Context(), svc, req)
			}
			res, err := app.CreateFiles(cmd.Context(), svc, req, force)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(struct {
					app.CertView
					Files       []string `json:"files"`
					P12Password string   `json:"p12_password,omitempty"` // only when generated
				}{app.CertView{Cert: res.Cert}, res.Files, generated})
			}
			fmt.Fprintln(g.stdout, res.Cert.Serial)
			printf(g.stderr, "issued %s for CN %q, valid until %s\nwrote %s\nthe private key is not kept by gatehouse: it is only in %s\n",
				res.Cert.Serial, res.Cert.CN, when(res.Cert.NotAfter), strings.Join(res.Files, ", "), strings.Join(keyFiles(res.Files), " and "))
			if generated != "" {
				printf(g.stderr, "PKCS#12 password (shown once, not kept): %s\n", generated)
			}
			if res.Warning != "" {
				printf(g.stderr, "warning: %s\n", res.Warning)
			}
			return nil
		},
	}
	c.Flags().StringVar(&req.CN, "cn", "", "common name (generated when empty)")
	c.Flags().StringVar(&req.TTL, "ttl", "", "validity, e.g. 720h or 90d (default 365d)")
	c.Flags().StringVar(&req.KeyType, "key", "", "key type: ecdsa-p256 (default), rsa-2048, rsa-3072, ed25519")
	c.Flags().StringVar(&req.OutDir, "out", "", "output directory (default ./<cn>/); - prints chain and key as one PEM on stdout")
	c.Flags().StringVar(&req.Issuer, "issuer", "", "issuing CA NAME (default: the built-in one; see ca issuer)")
	c.Flags().BoolVar(&req.Bundle, "bundle", false, "also write DIR/client.pem: chain and key in one file")
	c.Flags().StringVar(&req.P12, "p12", "", "write a PKCS#12 FILE (key, leaf, chain) for Java/Android keystores")
	c.Flags().StringVar(&p12PassFile, "p12-password-file", "", "read the PKCS#12 password from F (default: generate one and print it once)")
	c.Flags().BoolVar(&force, "force", false, "overwrite existing files")
	return c
}

// createToStdout issues a certificate and prints its chain and key as one
// PEM on stdout, the serial on stderr: `cert create --out -`.
func (g *globals) createToStdout(ctx context.Context, svc app.Service, req app.CreateRequest) error {
	b, err := svc.IssueClient(ctx, app.IssueRequest{CN: req.CN, TTL: req.TTL, KeyType: req.KeyType, Issuer: req.Issuer})
	if err != nil {
		return err
	}
	if _, err := g.stdout.Write(pki.BundlePEM([]byte(b.ChainPEM), []byte(b.KeyPEM))); err != nil {
		return fmt.Errorf("certificate %s issued but not printed (the key is lost; revoke it): %w", b.Cert.Serial, err)
	}
	printf(g.stderr, "issued %s for CN %q, valid until %s; chain and key printed on stdout, the key is not kept by gatehouse\n",
		b.Cert.Serial, b.Cert.CN, when(b.Cert.NotAfter))
	return nil
}

// p12Password reads the PKCS#12 password from file, or generates one (then
// also returned as generated, to be shown once).
func p12Password(file string) (pass, generated string, err error) {
	if file != "" {
		raw, err := os.ReadFile(file)
		if err != nil {
			return "", "", fmt.Errorf("read --p12-password-file: %w", err)
		}
		pass = strings.TrimRight(string(raw), "\r\n")
		if pass == "" {
			return "", "", usageErr{Err: fmt.Errorf("--p12-password-file %s is empty", file)}
		}
		return pass, "", nil
	}
	buf := make([]byte, 15)
	if _, err := rand.Read(buf); err != nil {
		return "", "", fmt.Errorf("generate a PKCS#12 password: %w", err)
	}
	pass = base64.RawURLEncoding.EncodeToString(buf)
	return pass, pass, nil
}

// keyFiles are the paths among files that hold the private key.
func keyFiles(files []string) []string {
	var out []string
	for _, f := range files {
		switch filepath.Base(f) {
		case pki.CAFile, pki.CertFile:
		default:
			out = append(out, f)
		}
	}
	return out
}

func newCertSign(g *globals) *cobra.Command {
	var csrFile, ttl, out string
	var force bool
	c := &cobra.Command{
		Use:   "sign --csr FILE",
		Short: "Sign a device's CSR; the device keeps its private key",
		Example: `  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout dev.key -subj /CN=dev9 -out dev.csr
  gatehouse cert sign --csr dev.csr --out dev.crt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if csrFile == "" {
				return usageErr{Err: errors.New("--csr FILE is required")}
			}
			csr, err := os.ReadFile(csrFile)
			if err != nil {
				return fmt.Errorf("read CSR: %w", err)
			}
			if out != "" { // before signing: a refusal must not leave a signed record behind
				if err := pki.CheckOutFile(out, force); err != nil {
					return err
				}
			}
			svc, done, err := g.service()
			if err != nil {
				return err
			}
			defer done()
			b, err := svc.SignCSR(cmd.Context(), csr, ttl)
			if err != nil {
				return err
			}
			return g.printChain(b, out, "signed")
		},
	}
	c.Flags().StringVar(&csrFile, "csr", "", "PEM certificate signing request")
	c.Flags().StringVar(&ttl, "ttl", "", "validity, e.g. 720h or 90d (default 365d)")
	c.Flags().StringVar(&out, "out", "", "write the chain to FILE instead of stdout")
	c.Flags().BoolVar(&force, "force", false, "overwrite an existing --out file")
	return c
}

// printChain reports a certificate signed from a CSR: JSON, or its chain on
// stdout, or the chain written to out and the serial on stdout.
func (g *globals) printChain(b app.Bundle, out, verb string) error {
	if g.json {
		return g.printJSON(b)
	}
	if out == "" {
		_, err := fmt.Fprint(g.stdout, b.ChainPEM)
		return err
	}
	if err := os.WriteFile(out, []byte(b.ChainPEM), 0o644); err != nil {
		return fmt.Errorf("write certificate chain: %w", err)
	}
	fmt.Fprintln(g.stdout, b.Cert.Serial)
	printf(g.stderr, "%s %s for CN %q, chain written to %s\n", verb, b.Cert.Serial, b.Cert.CN, out)
	return nil
}

func newCertImport(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE",
		Short: "Register a client certificate issued by a trusted CA (state inactive)",
		Example: `  gatehouse ca trust partner-ca.pem --strict
  gatehouse cert import device-42.crt`,
		Args: exactArgs(1, "import needs one FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			pem, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("read certificate: %w", err)
			}
			svc, done, err := g.service()
			if err != nil {
				return err
			}
			defer done()
			cert, err := svc.ImportCert(cmd.Context(), pem)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(app.CertView{Cert: cert})
			}
			fmt.Fprintln(g.stdout, cert.Serial)
			return nil
		},
	}
}

func newCertList(g *globals) *cobra.Command {
	var state string
	var st store.State
	var expiring time.Duration
	c := &cobra.Command{
		Use:     "list",
		Short:   "List client certificates",
		Example: "  gatehouse cert list --state active --json\n  gatehouse cert list --expiring 30d",
		Args:    cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) (err error) {
			st, err = parseState(state)
			return err
		},
		RunE: g.withReader(func(cmd *cobra.Command, svc app.Service, _ []string) error {
			return listCerts(cmd.Context(), g, svc, app.CertFilter{State: st, Expiring: expiring})
		}),
	}
	c.Flags().StringVar(&state, "state", "", "only inactive, active, suspended or revoked")
	c.Flags().Var(period{&expiring}, "expiring", "only certificates in use that expire within this span, e.g. 30d")
	return c
}

// listCerts prints the certificates f selects as they arrive from svc: with
// --json element by element, never holding the list; as a table once all
// rows are in, since columns are aligned to the widest cell.
func listCerts(ctx context.Context, g *globals, svc app.Service, f app.CertFilter) error {
	now := time.Now()
	if g.json {
		return svc.WriteCertsJSON(ctx, f, g.stdout)
	}
	var rows [][]string
	err := svc.EachCert(ctx, f, func(c app.CertView) error {
		rows = append(rows, []string{c.Serial, c.CN, c.DisplayState(now), when(c.NotAfter), strconv.Itoa(c.Sessions), when(c.LastSeen)})
		return nil
	})
	if err != nil {
		return err
	}
	return g.table([]string{"SERIAL", "CN", "STATE", "EXPIRES", "SESSIONS", "LAST SEEN"}, rows)
}

func parseState(s string) (store.State, error) {
	switch st := store.State(s); st {
	case "", store.StateInactive, store.StateActive, store.StateSuspended, store.StateRevoked:
		return st, nil
	}
	return "", usageErr{Err: fmt.Errorf("unknown state %q: use inactive, active, suspended or revoked", s)}
}

func newCertShow(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "show SERIAL",
		Short:             "Show one certificate, its live sessions and its history",
		Example:           "  gatehouse cert show 3f2a9c",
		Args:              exactArgs(1, "show needs one SERIAL (a unique prefix of 6+ hex characters will do)"),
		ValidArgsFunction: g.completeSerials,
		RunE: g.withReader(func(cmd *cobra.Command, svc app.Service, args []string) error {
			serials, err := resolve(cmd.Context(), svc, args)
			if err != nil {
				return err
			}
			d, err := svc.ShowCert(cmd.Context(), serials[0])
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(d)
			}
			return printDetail(g, d)
		}),
	}
}

func printDetail(g *globals, d app.CertDetail) error {
	w := g.stdout
	printf(w, "Serial:       %s\nID:           %s\nCN:           %s\nState:        %s\n", d.Serial, d.ID, d.CN, d.DisplayState(time.Now()))
	if len(d.SANs) > 0 {
		printf(w, "SANs:         %s\n", strings.Join(d.SANs, ", "))
	}
	printf(w, "Issuer:       %s\nSource:       %s\nValid:        %s .. %s\nFingerprint:  %s\nFirst seen:   %s\nLast seen:    %s\n",
		d.Issuer, string(d.Source), when(d.NotBefore), when(d.NotAfter), d.Fingerprint, when(d.FirstSeen), when(d.LastSeen))
	fmt.Fprintf(w, "Sessions:     %d\n", len(d.LiveSessions))
	for _, s := range d.LiveSessions {
		printf(w, "  %s  %s  %s  since %s\n", s.ClientID, s.Transport, s.Remote, when(s.ConnectedAt))
	}
	fmt.Fprintf(w, "Rights:       %d rules apply (acl list); denials since start: %d\n", len(d.Rights), d.Denials)
	for _, r := range d.Rights {
		printf(w, "  %-4s %-5s %-9s %s\n", r.Rule, r.Effect, r.Action, r.Topic) // ${cn} filled in: device text
	}
	fmt.Fprintln(w, "History:")
	for _, h := range d.History {
		line := fmt.Sprintf("  %s  %-16s %s", when(h.At), h.Action, h.Actor)
		if h.From != "" || h.To != "" {
			line += fmt.Sprintf("  %s -> %s", h.From, h.To)
		}
		if h.Reason != "" {
			line += "  (" + h.Reason + ")"
		}
		printf(w, "%s\n", line)
	}
	return nil
}

// transition describes one lifecycle command.
type transition struct {
	use, past string
	to        store.State
	short     string
	warning   string
}

func newCertTransition(g *globals, t transition) *cobra.Command {
	var reason string
	var purge bool
	c := &cobra.Command{
		Use:               t.use + " SERIAL...",
		Short:             t.short,
		Long:              t.short + ".\n" + t.warning + "Prints how many live sessions were dropped.",
		Example:           fmt.Sprintf("  gatehouse cert %s 3f2a9c --reason \"device stolen\"", t.use),
		Args:              cobra.MinimumNArgs(1), // wrapped as a usage error by markUsage
		ValidArgsFunction: g.completeSerials,
		RunE: g.withService(func(cmd *cobra.Command, svc app.Service, args []string) error {
			serials, err := resolve(cmd.Context(), svc, args)
			if err != nil {
				return err
			}
			type result struct {
				ID      string      `json:"id"`
				Serial  string      `json:"serial"`
				CN      string      `json:"cn"`
				State   store.State `json:"state"`
				Dropped int         `json:"dropped"`
				Purged  *int        `json:"purged_retained,omitempty"` // with --purge-retained
			}
			var results []result
			for _, s := range serials {
				r, err := svc.Transition(cmd.Context(), s, t.to, reason)
				if err != nil {
					return fmt.Errorf("%s %s: %w", t.use, s, err)
				}
				res := result{r.Cert.ID, r.Cert.Serial, r.Cert.CN, r.Cert.State, r.Dropped, nil}
				line := fmt.Sprintf("%s %s (%s), dropped %d %s", t.past, r.Cert.CN, r.Cert.Serial, r.Dropped, plural(r.Dropped, "session"))
				if purge {
					// After the transition: its sessions are gone and cannot set new ones.
					n, err := svc.PurgeRetained(cmd.Context(), s)
					if err != nil {
						return fmt.Errorf("%s %s: %w", t.use, s, err)
					}
					res.Purged = &n
					line += fmt.Sprintf(", purged %d retained %s", n, plural(n, "message"))
				}
				results = append(results, res)
				if !g.json {
					printf(g.stdout, "%s\n", line)
				}
			}
			if g.json {
				return g.printJSON(results)
			}
			return nil
		}),
	}
	c.Flags().StringVar(&reason, "reason", "", "why, recorded in the audit log")
	if t.to == store.StateRevoked {
		c.Flags().BoolVar(&purge, "purge-retained", false, "also delete the retained messages its sessions published")
	}
	return c
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// exactArgs is cobra.ExactArgs with a message that says what is missing.
func exactArgs(n int, msg string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErr{Err: errors.New(msg)}
		}
		return nil
	}
}

// completeSerials offers the serials of known certificates, with their CN and
// state as descriptions, for shell completion.
func (g *globals) completeSerials(cmd *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
	svc, done, err := g.serviceFor(app.AccessReadOnly)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer done()
	certs, err := svc.ListCerts(cmd.Context(), "")
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, c := range certs {
		if strings.HasPrefix(c.Serial, prefix) {
			out = append(out, c.Serial+"\t"+c.CN+" ("+string(c.State)+")")
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
