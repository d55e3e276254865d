package main

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
)

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
			return printList(g, ss, []string{"CLIENT ID", "CN", "SERIAL", "TRANSPORT", "REMOTE", "FOR", "IN", "OUT", "CREDENTIAL"}, func(s broker.Session) []string {
				return []string{s.ClientID, orDash(s.CN), orDash(s.Serial), s.Transport, s.Remote,
					time.Since(s.ConnectedAt).Truncate(time.Second).String(), strconv.FormatUint(s.MsgsIn, 10), strconv.FormatUint(s.MsgsOut, 10), credential(s)}
			})
		}),
	})
	c.AddCommand(&cobra.Command{
		Use:   "kick CLIENT_ID",
		Short: "Disconnect one live session; the device may reconnect",
		Long: `Disconnect one live session now (DISCONNECT 0x98, administrative action),
recorded in the audit log. The certificate is untouched, so the device may
reconnect at once: suspend the certificate to keep it out.`,
		Example: "  gatehouse conn kick device-3",
		Args:    exactArgs(1, "conn kick needs one CLIENT_ID: see 'gatehouse conn list'"),
		RunE: g.withService(func(cmd *cobra.Command, svc app.Service, args []string) error {
			if _, local := svc.(*app.App); local {
				return errors.New("no daemon serves this data directory, so there are no live sessions to kick: start 'gatehouse serve' or 'gatehouse'")
			}
			if err := svc.Kick(cmd.Context(), args[0]); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]any{"client_id": args[0], "kicked": true})
			}
			_, err := fmt.Fprintf(g.stdout, "kicked %s; it may reconnect\n", args[0])
			return err
		}),
	})
	return c
}

// credential words how a session authenticated, with the token's subject.
func credential(s broker.Session) string {
	if s.Subject != "" {
		return s.Credential + " " + s.Subject
	}
	return s.Credential
}
