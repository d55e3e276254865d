package main

import (
	"context"
	"fmt"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/ui/termsafe"
)

func newMTLS(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "mtls on|off|status",
		Short: "Switch client-certificate authentication per transport",
		Long: `Switch client-certificate authentication (mutual TLS) on or off for the
TLS transports. Switching it on drops, at once, every connected client that
did not present a trusted certificate. Switched off, a transport does one-way
TLS: presented certificates are still checked, clients without one connect.`,
		Example: `  gatehouse mtls on                    # both mqtts and wss
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
			targets := []string{broker.TransportMQTTS, broker.TransportWSS}
			switch transport {
			case "":
			case broker.TransportMQTTS, broker.TransportWSS:
				targets = []string{transport}
			default:
				return usageErr{fmt.Errorf("unknown transport %q: use mqtts or wss", transport)}
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
	c.Flags().StringVar(&transport, "transport", "", "mqtts or wss (default both)")
	return c
}

func onOff(b bool) string { return map[bool]string{true: "on", false: "off"}[b] }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
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

func newConn(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:     "conn",
		Short:   "Live MQTT connections",
		Example: "  gatehouse conn list",
		Args:    cobra.NoArgs,
		RunE:    needsSubcommand,
	}
	c.AddCommand(&cobra.Command{
		Use:     "list",
		Short:   "List live connections",
		Example: "  gatehouse conn list --json",
		Args:    cobra.NoArgs,
		RunE: g.withReader(func(cmd *cobra.Command, svc app.Service, _ []string) error {
			ss, err := svc.Sessions(cmd.Context())
			if err != nil {
				return err
			}
			return printList(g, ss, []string{"CLIENT ID", "CN", "SERIAL", "TRANSPORT", "REMOTE", "FOR", "IN", "OUT"}, func(s broker.Session) []string {
				return []string{s.ClientID, orDash(s.CN), orDash(s.Serial), s.Transport, s.Remote,
					time.Since(s.ConnectedAt).Truncate(time.Second).String(), strconv.FormatUint(s.MsgsIn, 10), strconv.FormatUint(s.MsgsOut, 10)}
			})
		}),
	})
	return c
}

// printEventJSON writes one event as a single line (NDJSON).
func (g *globals) printEventJSON(e broker.Event) error {
	b, err := jsonLine(e)
	if err != nil {
		return err
	}
	_, err = g.stdout.Write(b)
	return err
}

func printEvent(g *globals, e broker.Event) {
	who := e.ClientID
	if e.CN != "" {
		who += " cn=" + e.CN
	}
	if e.Serial != "" {
		who += " serial=" + e.Serial
	}
	line := fmt.Sprintf("%s  %-12s", e.At.Local().Format("15:04:05.000"), e.Type)
	for _, part := range []string{e.Transport, e.Remote, who} {
		if part != "" {
			line += "  " + part
		}
	}
	if e.Reason != "" {
		line += "  (" + e.Reason + ")"
	}
	fmt.Fprintln(g.stdout, termsafe.Clean(line))
}

func newAudit(g *globals) *cobra.Command {
	var q store.AuditQuery
	c := &cobra.Command{
		Use:     "audit",
		Short:   "Show the audit log of admin actions, newest first",
		Example: "  gatehouse audit --limit 20\n  gatehouse audit --serial 3f2a9c --json",
		Args:    cobra.NoArgs,
		RunE: g.withReader(func(cmd *cobra.Command, svc app.Service, _ []string) error {
			if q.Serial != "" {
				s, err := resolve(cmd.Context(), svc, []string{q.Serial})
				if err != nil {
					return err
				}
				q.Serial, q.CertID = "", s[0]
			}
			recs, err := svc.Audit(cmd.Context(), q)
			if err != nil {
				return err
			}
			return printList(g, recs, []string{"SEQ", "AT", "ACTOR", "ACTION", "CN", "CHANGE", "DETAIL"}, func(r store.AuditRecord) []string {
				change := ""
				if r.From != "" || r.To != "" {
					change = string(r.From) + " -> " + string(r.To)
				}
				return []string{strconv.FormatUint(r.Seq, 10), when(r.At), r.Actor, r.Action, orDash(r.CN), change, r.Reason + r.Detail}
			})
		}),
	}
	c.Flags().StringVar(&q.Serial, "serial", "", "only records about this certificate")
	c.Flags().IntVar(&q.Limit, "limit", 0, "at most N records")
	return c
}

func newVersion(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version, commit, Go version and build date",
		Example: "  gatehouse version --json",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			b := currentBuild()
			if g.json {
				return g.printJSON(b)
			}
			_, err := fmt.Fprintln(g.stdout, b.String())
			return err
		},
	}
}

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
}
