package main

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
)

func newEvents(g *globals) *cobra.Command {
	var follow bool
	c := &cobra.Command{
		Use:   "events",
		Short: "Show recent broker events; --follow streams them",
		Long: `Show connections, disconnections with their cause, refusals with their
reason, certificate state changes and client-cert auth switches. With --json
and --follow, one JSON object per line.`,
		Example: "  gatehouse events --follow --json",
		Args:    cobra.NoArgs,
		RunE: g.withService(func(cmd *cobra.Command, svc app.Service, _ []string) error {
			if !follow {
				evs, err := svc.RecentEvents(cmd.Context())
				if err != nil {
					return err
				}
				if g.json {
					if evs == nil {
						evs = []broker.Event{}
					}
					return g.printJSON(evs)
				}
				for _, e := range evs {
					printEvent(g, e)
				}
				return nil
			}
			if _, local := svc.(*app.App); local {
				return errors.New("no daemon serves this data directory, so there are no live events: start 'gatehouse serve' or 'gatehouse'")
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			ch, err := svc.Subscribe(ctx)
			if err != nil {
				return err
			}
			for e := range ch {
				if g.json {
					if err := g.printEventJSON(e); err != nil {
						return err
					}
					continue
				}
				printEvent(g, e)
			}
			return nil
		}),
	}
	c.Flags().BoolVarP(&follow, "follow", "f", false, "stream events until interrupted")
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
	fmt.Fprintln(g.stdout, line)
}

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
}
