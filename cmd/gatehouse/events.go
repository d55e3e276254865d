package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/ui/termsafe"
)

// eventsFlags are the filters and formats of `gatehouse events`.
type eventsFlags struct {
	follow      bool
	since       string
	types       []string
	serial      string
	limit       int
	ndjson, csv bool
}

func newEvents(g *globals) *cobra.Command {
	var f eventsFlags
	c := &cobra.Command{
		Use:   "events",
		Short: "Show the event log; --follow streams new events",
		Long: `Show connections, disconnections with their cause, refusals with their
reason, messages dropped for slow subscribers (type dropped, with a count),
certificate state changes and client-cert auth switches, oldest first.
The log is kept in the store (bounded by serve's --events-keep and
--events-max-age), so it survives restarts. --json prints one JSON array;
--ndjson one JSON object per line; --csv a header and one row per event.
With --follow, new events stream until interrupted (--json: one object per line).`,
		Example: `  gatehouse events --since 10m --type refused,denied
  gatehouse events --serial 3f2a9c --csv > device.csv
  gatehouse events --follow --json`,
		Args: cobra.NoArgs,
		RunE: g.withReader(func(cmd *cobra.Command, svc app.Service, _ []string) error {
			q, err := f.query(time.Now())
			if err != nil {
				return err
			}
			if f.ndjson && f.csv || (f.ndjson || f.csv) && g.json {
				return usageErr{Err: errors.New("choose one of --json, --ndjson and --csv")}
			}
			if !f.follow {
				evs, err := svc.Events(cmd.Context(), q)
				if err != nil {
					return err
				}
				return printEvents(g, f, evs)
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
			var w *csv.Writer
			if f.csv {
				w = csv.NewWriter(g.stdout)
				_ = w.Write(eventCSVHeader)
			}
			for e := range ch {
				if !q.Match(e) {
					continue
				}
				switch {
				case g.json || f.ndjson:
					if err := g.printEventJSON(e); err != nil {
						return err
					}
				case w != nil:
					_ = w.Write(eventCSVRow(e))
					w.Flush()
					if err := w.Error(); err != nil {
						return err
					}
				default:
					printEvent(g, e)
				}
			}
			return nil
		}),
	}
	fs := c.Flags()
	fs.BoolVarP(&f.follow, "follow", "f", false, "stream new events until interrupted")
	fs.StringVar(&f.since, "since", "", "only events since a duration ago (10m, 2h, 7d) or a time (RFC 3339)")
	fs.StringSliceVar(&f.types, "type", nil, "only these event types, comma-separated (connected, disconnected, refused, denied, dropped, cert_state, mtls, ...)")
	fs.StringVar(&f.serial, "serial", "", "only events of this certificate serial (or a prefix of it)")
	fs.IntVar(&f.limit, "limit", 1000, "at most the newest N matching events (0: all kept)")
	fs.BoolVar(&f.ndjson, "ndjson", false, "print one JSON object per line")
	fs.BoolVar(&f.csv, "csv", false, "print CSV with a header row")
	return c
}

// query turns the flags into an EventQuery; bad values are usage errors.
func (f eventsFlags) query(now time.Time) (app.EventQuery, error) {
	q := app.EventQuery{Types: f.types, Serial: f.serial, Limit: f.limit}
	if f.limit < 0 {
		return q, usageErr{Err: fmt.Errorf("--limit %d: must be 0 (all) or more", f.limit)}
	}
	if f.since != "" {
		since, err := parseSince(f.since, now)
		if err != nil {
			return q, usageErr{Err: err}
		}
		q.Since = since
	}
	return q, nil
}

// parseSince reads "10m", "36h", "7d" (ago) or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if days, ok := strings.CutSuffix(s, "d"); ok && err != nil {
		var n int
		if _, scanErr := fmt.Sscanf(days, "%d", &n); scanErr == nil && fmt.Sprint(n) == days {
			d, err = time.Duration(n)*24*time.Hour, nil
		}
	}
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("--since %q: use a duration such as 10m, 2h or 7d, or a time such as 2026-01-02T15:04:05Z", s)
	}
	return now.Add(-d), nil
}

var eventCSVHeader = []string{"at", "type", "reason", "client_id", "serial", "cn", "remote", "transport"}

func eventCSVRow(e broker.Event) []string {
	return []string{e.At.UTC().Format(time.RFC3339Nano), e.Type, e.Reason, e.ClientID, e.Serial, e.CN, e.Remote, e.Transport}
}

// printEvents writes a list of events in the chosen format.
func printEvents(g *globals, f eventsFlags, evs []broker.Event) error {
	switch {
	case g.json:
		if evs == nil {
			evs = []broker.Event{}
		}
		return g.printJSON(evs)
	case f.ndjson:
		for _, e := range evs {
			if err := g.printEventJSON(e); err != nil {
				return err
			}
		}
		return nil
	case f.csv:
		w := csv.NewWriter(g.stdout)
		rows := [][]string{eventCSVHeader}
		for _, e := range evs {
			rows = append(rows, eventCSVRow(e))
		}
		return w.WriteAll(rows)
	}
	for _, e := range evs {
		printEvent(g, e)
	}
	return nil
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

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
}
