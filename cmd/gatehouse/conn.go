package main

import (
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
		RunE: g.withService(func(cmd *cobra.Command, svc app.Service, _ []string) error {
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
