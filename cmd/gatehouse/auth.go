package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
)

func newAuth(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:     "auth",
		Short:   "Choose the credential each transport asks for: certificate, JWT, either or both",
		Example: "  gatehouse auth mode\n  gatehouse auth mode mqtts jwt",
		Args:    cobra.NoArgs,
		RunE:    needsSubcommand,
	}
	c.AddCommand(newAuthMode(g))
	return c
}

func newAuthMode(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "mode [mqtts|wss|https cert|jwt|either|cert+jwt]",
		Short: "Show or set the credential mode of a transport",
		Long: `Show (no arguments) or set the credential a TLS transport asks for:
  cert      a client certificate (the default); a CONNECT password is ignored
  jwt       a JSON Web Token in the CONNECT password (HTTPS: Authorization:
            Bearer); the MQTT user name, when sent, must be the token's sub
  either    a certificate or a token
  cert+jwt  both, and each must pass
A presented credential is always checked, whatever the mode. 'mtls off' makes
every credential optional (anonymous clients connect); 'mtls on' requires what
the mode names. Setting a mode drops at once the sessions it refuses.`,
		Example: `  gatehouse auth mode
  gatehouse auth mode mqtts jwt
  gatehouse auth mode wss cert+jwt --json`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 0 && len(args) != 2 {
				return usageErr{Err: fmt.Errorf("auth mode takes no arguments (show) or TRANSPORT MODE, e.g. 'auth mode mqtts jwt'")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return g.withReader(func(cmd *cobra.Command, svc app.Service, _ []string) error {
					modes, err := svc.AuthModes(cmd.Context())
					if err != nil {
						return err
					}
					return printList(g, modes, []string{"TRANSPORT", "MODE", "CREDENTIAL REQUIRED"}, func(m app.AuthModeInfo) []string {
						req := "yes"
						if !m.ClientAuth {
							req = "no (mtls off: anonymous allowed)"
						}
						return []string{m.Transport, m.Mode, req}
					})
				})(cmd, args)
			}
			transport, mode := args[0], args[1]
			if err := broker.ValidAuthMode(mode); err != nil {
				return usageErr{Err: err}
			}
			svc, done, err := g.service()
			if err != nil {
				return err
			}
			defer done()
			n, err := svc.SetAuthMode(cmd.Context(), transport, mode)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(struct {
					Transport string `json:"transport"`
					Mode      string `json:"mode"`
					Dropped   int    `json:"dropped"`
				}{transport, mode, n})
			}
			printf(g.stdout, "auth mode %s for %s, dropped %d %s\n", mode, transport, n, plural(n, "session"))
			if mode != broker.AuthCert && transport != broker.TransportHTTPS {
				printf(g.stdout, "devices send a token from 'gatehouse token create' as their MQTT password\n")
			}
			return nil
		},
	}
}
