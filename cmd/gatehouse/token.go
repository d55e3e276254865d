package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

func newToken(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "token",
		Short: "Issue, trust and manage JSON Web Tokens devices use as a credential",
		Long: `Devices may authenticate with a JWT instead of, or beside, a client
certificate, where 'auth mode' allows it. Gatehouse signs tokens with its own
ES256 key (token create), or trusts an operator's issuer (token trust). A
token's subject (sub) has the certificate lifecycle: token suspend, reactivate
and revoke act on it and drop its live sessions at once; revoke of one token's
jti refuses that token alone.`,
		Example: `  gatehouse token create --sub dev1 --ttl 1h
  gatehouse token trust issuer-jwks.json --name partner
  gatehouse token suspend dev1`,
		Args: cobra.NoArgs,
		RunE: needsSubcommand,
	}
	c.AddCommand(newTokenCreate(g), newTokenTrust(g), newTokenUntrust(g), newTokenList(g))
	for _, t := range []transition{
		{use: "suspend", past: "suspended", to: store.StateSuspended, short: "Suspend token subjects: their sessions drop, their tokens are refused until reactivated"},
		{use: "reactivate", past: "reactivated", to: store.StateActive, short: "Reactivate suspended token subjects"},
		{use: "revoke", past: "revoked", to: store.StateRevoked, short: "Revoke token subjects (final) or single tokens by jti",
			warning: "Revoking a subject is final; revoking a jti refuses that token until it expires.\n"},
	} {
		c.AddCommand(newTokenTransition(g, t))
	}
	return c
}

func newTokenCreate(g *globals) *cobra.Command {
	var req app.TokenRequest
	c := &cobra.Command{
		Use:   "create --sub SUB --ttl D [--aud AUD]",
		Short: "Sign a token for a device; it is printed once and not kept",
		Long: `Sign a JWT (ES256, Gatehouse's token key, kept like the CA keys) for subject
SUB, valid for D (e.g. 15m, 1h, 30d; at most a year). The token is printed
once; Gatehouse keeps only its jti, sub and exp. AUD defaults to the running
broker's --jwt-audience (without a daemon: "gatehouse").`,
		Example: `  TOKEN=$(gatehouse token create --sub dev1 --ttl 1h)
  gatehouse token create --sub dev1 --ttl 30d --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.Subject == "" {
				return usageErr{Err: errors.New("--sub SUB is required")}
			}
			if req.TTL == "" {
				return usageErr{Err: errors.New("--ttl D is required, e.g. 1h or 30d")}
			}
			svc, done, err := g.service()
			if err != nil {
				return err
			}
			defer done()
			it, err := svc.CreateToken(cmd.Context(), req)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(struct {
					Token string `json:"token"`
					store.IssuedToken
				}{it.Token, it.Record})
			}
			fmt.Fprintln(g.stdout, it.Token)
			return nil
		},
	}
	c.Flags().StringVar(&req.Subject, "sub", "", "the token's subject: the device's name (${sub} in ACL rules)")
	c.Flags().StringVar(&req.TTL, "ttl", "", "how long the token is valid, e.g. 1h or 30d")
	c.Flags().StringVar(&req.Audience, "aud", "", "the audience (default: the broker's --jwt-audience)")
	return c
}

func newTokenTrust(g *globals) *cobra.Command {
	var name string
	c := &cobra.Command{
		Use:   "trust FILE [--name NAME]",
		Short: "Trust an issuer's public keys (JWKS or PEM) to sign device tokens",
		Long: `Trust the public keys of an operator's token issuer: a JWKS document (each
key's kid kept) or PEM public keys or certificates (kid NAME, or NAME-1,
NAME-2, ... for several). Each key is pinned to its algorithm (EC P-256/P-384:
ES256/ES384, RSA: RS256, or PS256 when the JWKS says so, Ed25519: EdDSA);
HMAC and private keys are refused. NAME defaults to FILE's base name
without its extension (partner-jwks.json: partner-jwks).`,
		Example: "  gatehouse token trust partner-jwks.json --name partner",
		Args:    exactArgs(1, "token trust needs one FILE (JWKS or PEM public keys)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			defaulted := name == ""
			if defaulted {
				base := filepath.Base(args[0])
				name = strings.TrimSuffix(base, filepath.Ext(base))
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("read %s: %w", args[0], err)
			}
			svc, done, err := g.service()
			if err != nil {
				return err
			}
			defer done()
			keys, err := svc.TrustTokenKeys(cmd.Context(), name, data)
			if defaulted && errors.Is(err, app.ErrUsage) {
				return usageErr{Err: fmt.Errorf("%w (the name %q comes from FILE: give one with --name)", err, name)}
			}
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(keys)
			}
			for _, k := range keys {
				printf(g.stdout, "trusted token key %s (%s) of %s\n", k.KID, k.Alg, k.Name)
			}
			return nil
		},
	}
	c.Flags().StringVar(&name, "name", "", "the issuer's name (default: FILE's base name without extension)")
	return c
}

func newTokenUntrust(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "untrust NAME",
		Short:   "Stop trusting an issuer's token keys; sessions with its tokens drop",
		Example: "  gatehouse token untrust partner",
		Args:    exactArgs(1, "token untrust needs one issuer NAME"),
		RunE: g.withService(func(cmd *cobra.Command, svc app.Service, args []string) error {
			r, err := svc.UntrustTokenKeys(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(r)
			}
			printf(g.stdout, "untrusted %d token %s of %s, dropped %d %s\n", len(r.Keys), plural(len(r.Keys), "key"), args[0], r.Dropped, plural(r.Dropped, "session"))
			return nil
		}),
	}
}

func newTokenList(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List token subjects (and, with --json, issued and revoked tokens and keys)",
		Example: "  gatehouse token list\n  gatehouse token list --json",
		Args:    cobra.NoArgs,
		RunE: g.withReader(func(cmd *cobra.Command, svc app.Service, _ []string) error {
			l, err := svc.Tokens(cmd.Context())
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(l)
			}
			tokens := map[string]int{}
			for _, it := range l.Issued {
				tokens[it.Subject]++
			}
			if err := printList(g, l.Subjects, []string{"SUB", "STATE", "SESSIONS", "TOKENS", "FIRST SEEN", "LAST SEEN"}, func(s app.TokenSubjectView) []string {
				return []string{s.Subject, string(s.State), strconv.Itoa(s.Sessions), strconv.Itoa(tokens[s.Subject]), when(s.FirstSeen), when(s.LastSeen)}
			}); err != nil {
				return err
			}
			var keys []string
			for _, k := range l.Keys {
				keys = append(keys, k.KID+" ("+k.Alg+")")
			}
			printf(g.stdout, "\naudience %s; %d revoked %s; keys: %s\n", l.Audience, len(l.Revoked), plural(len(l.Revoked), "token"), orDash(strings.Join(keys, ", ")))
			return nil
		}),
	}
}

func newTokenTransition(g *globals, t transition) *cobra.Command {
	var reason string
	c := &cobra.Command{
		Use:     t.use + " SUB-or-JTI...",
		Short:   t.short,
		Long:    t.short + ".\n" + t.warning + "Prints how many live sessions were dropped.",
		Example: fmt.Sprintf("  gatehouse token %s dev1 --reason \"device lost\"", t.use),
		Args:    cobra.MinimumNArgs(1),
		RunE: g.withService(func(cmd *cobra.Command, svc app.Service, args []string) error {
			type result struct {
				Subject string      `json:"sub"`
				JTI     string      `json:"jti,omitempty"`
				State   store.State `json:"state,omitempty"`
				Dropped int         `json:"dropped"`
			}
			var results []result
			for _, ref := range args {
				r, err := svc.TokenTransition(cmd.Context(), ref, t.to, reason)
				if err != nil {
					return fmt.Errorf("token %s %s: %w", t.use, ref, err)
				}
				results = append(results, result{r.Subject.Subject, r.JTI, r.Subject.State, r.Dropped})
				if g.json {
					continue
				}
				what := "subject " + r.Subject.Subject
				if r.JTI != "" {
					what = "token " + r.JTI + " of " + r.Subject.Subject
				}
				printf(g.stdout, "%s %s, dropped %d %s\n", t.past, what, r.Dropped, plural(r.Dropped, "session"))
			}
			if g.json {
				return g.printJSON(results)
			}
			return nil
		}),
	}
	c.Flags().StringVar(&reason, "reason", "", "why, for the audit log")
	return c
}
