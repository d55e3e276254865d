package main

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
)

func newMTLS(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "mtls on|off|status",
		Short: "Switch client-certificate authentication per transport",
		Long: `Switch client-certificate authentication (mutual TLS) on or off for the
TLS transports. Switching it on drops, at once, every connected client that
did not present a trusted certificate. Switched off, a transport does one-way
TLS: presented certificates are still checked, clients without one connect.`,
		Example: `  gatehouse mtls on                    # mqtts, wss and https
  gatehouse mtls off --transport wss
  gatehouse mtls status --json`,
		Args: cobra.NoArgs,
		RunE: needsSubcommand,
	}
	for _, on := range []bool{true, false} {
		c.AddCommand(newMTLSSwitch(g, on))
	}
	c.AddCommand(&cobra.Command{
		Use:     "status",
		Short:   "Show each transport and whether client-cert auth is on",
		Example: "  gatehouse mtls status --json",
		Args:    cobra.NoArgs,
		RunE: g.withReader(func(cmd *cobra.Command, svc app.Service, _ []string) error {
			ts, err := svc.Transports(cmd.Context())
			if err != nil {
				return err
			}
			return printList(g, ts, []string{"TRANSPORT", "ADDRESS", "TLS", "CLIENT-CERT AUTH", "CONNECTED"}, func(t broker.TransportInfo) []string {
				return []string{t.Name, orDash(t.Addr), onOff(t.TLS), authPosture(t), strconv.Itoa(t.Connected)}
			})
		}),
	})
	return c
}

func newMTLSSwitch(g *globals, on bool) *cobra.Command {
	var transport string
	name := map[bool]string{true: "on", false: "off"}[on]
	c := &cobra.Command{
		Use:     name,
		Short:   "Switch client-cert auth " + name,
		Example: fmt.Sprintf("  gatehouse mtls %s\n  gatehouse mtls %s --transport wss", name, name),
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			targets := app.TLSTransports()
			switch {
			case transport == "":
			case slices.Contains(targets, transport):
				targets = []string{transport}
			default:
				return usageErr{Err: fmt.Errorf("unknown transport %q: use mqtts, wss or https", transport)}
			}
			svc, done, err := g.service()
			if err != nil {
				return err
			}
			defer done()
			type result struct {
				Transport  string `json:"transport"`
				ClientAuth bool   `json:"client_auth"`
				Dropped    int    `json:"dropped"`
			}
			var results []result
			for _, t := range targets {
				n, err := svc.SetClientAuth(cmd.Context(), t, on)
				if err != nil {
					return err
				}
				results = append(results, result{t, on, n})
				if !g.json {
					fmt.Fprintf(g.stdout, "client-cert auth %s for %s, dropped %d %s\n", name, t, n, plural(n, "session"))
				}
			}
			if g.json {
				return g.printJSON(results)
			}
			return nil
		},
	}
	c.Flags().StringVar(&transport, "transport", "", "mqtts, wss or https (default all)")
	return c
}

// authPosture words a transport's client-cert auth mode for operators.
func authPosture(t broker.TransportInfo) string {
	switch {
	case !t.TLS:
		return "n/a (plaintext)"
	case t.ClientAuth:
		return "on"
	}
	return "off (one-way TLS)"
}
