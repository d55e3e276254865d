package demo

import (
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// Step is one step of the guided tour (--tour): what the operator should do
// next, and how to tell it was done from what the TUI already holds.
//
// Done must not depend on the order of events (a Backend snapshot lists them
// and the event hub both list them oldest first, but a batch may repeat
// events a snapshot holds) and must be cheap: it runs on
// every refresh. The TUI keeps a step ticked once its Done held.
type Step struct {
	Text string
	Done func(certs []store.Cert, events []broker.Event) bool
}

// Steps is the tutorial of the Kaa guide "Authenticating client with SSL/TLS
// certificate" played on the demo fleet: one-way TLS, then mutual TLS, then a
// certificate of one's own, suspend, reactivate and revoke, for a fleet of
// the given number of telemetry devices. Every step is done on the TUI's home
// view, without switching views, and its line ("Tour 1/6 ▸ " and the text)
// fits 80 columns. The steps point at device-3 (or the last device of a
// smaller fleet) but accept the same action on any other.
func Steps(devices int) []Step {
	devices = max(devices, 1)
	target := DeviceName(min(3, devices))
	fleet := map[string]bool{}
	for i := 1; i <= devices; i++ {
		fleet[DeviceName(i)] = true
	}
	return []Step{
		{
			Text: "Press m, y: mqtts cert auth off, " + NoCertDevice + " gets in (one-way TLS)",
			Done: func(_ []store.Cert, events []broker.Event) bool {
				return len(connectedAt(events, func(e broker.Event) bool { return e.ClientID == NoCertDevice })) > 0
			},
		},
		{
			Text: "Press m, y again: auth back on, " + NoCertDevice + " drops, is refused",
			Done: func(_ []store.Cert, events []broker.Event) bool {
				in := connectedAt(events, func(e broker.Event) bool { return e.ClientID == NoCertDevice })
				return anyAfter(in, events, func(e broker.Event) bool {
					return e.Type == broker.EventRefused && e.Reason == pki.ReasonNoCert
				})
			},
		},
		{
			Text: "Press n to create a certificate for your own device",
			Done: func(certs []store.Cert, _ []broker.Event) bool {
				return slices.ContainsFunc(certs, func(c store.Cert) bool {
					return !fleet[c.CN]
				})
			},
		},
		{
			Text: "Select " + target + " (j/k), press s, y: it drops, its retries are refused",
			Done: func(_ []store.Cert, events []broker.Event) bool {
				return slices.ContainsFunc(events, func(e broker.Event) bool {
					return e.Type == broker.EventRefused && e.Reason == pki.ReasonSuspended
				})
			},
		},
		{
			Text: "Press a to reactivate " + target + ": it is back within seconds",
			Done: func(_ []store.Cert, events []broker.Event) bool {
				for _, e := range events {
					if e.Type != broker.EventCertState || e.From != string(store.StateSuspended) || e.To != string(store.StateActive) {
						continue
					}
					serial := e.Serial
					back := func(c broker.Event) bool { return c.Type == broker.EventConnected && c.Serial == serial }
					if anyAfter([]time.Time{e.At}, events, back) {
						return true
					}
				}
				return false
			},
		},
		{
			Text: "Press x, y to revoke a certificate: final, its device stays refused",
			Done: func(certs []store.Cert, _ []broker.Event) bool {
				return slices.ContainsFunc(certs, func(c store.Cert) bool { return c.State == store.StateRevoked })
			},
		},
	}
}

// connectedAt returns when matching sessions connected.
func connectedAt(events []broker.Event, match func(broker.Event) bool) []time.Time {
	var at []time.Time
	for _, e := range events {
		if e.Type == broker.EventConnected && match(e) {
			at = append(at, e.At)
		}
	}
	return at
}

// anyAfter reports whether some event matching match happened at or after one
// of the given times.
func anyAfter(times []time.Time, events []broker.Event, match func(broker.Event) bool) bool {
	for _, e := range events {
		if !match(e) {
			continue
		}
		for _, t := range times {
			if !e.At.Before(t) {
				return true
			}
		}
	}
	return false
}

// History is the events a tour has seen, oldest first, each once. The TUI
// hands a step only the latest batch of events, while the steps ask what
// happened before it ("connected, then refused"), so the adapter keeps them.
// Bounded: past historyCap events the older half is forgotten. Not safe for
// concurrent use: the TUI calls tour steps from Update only.
type History struct {
	seen   map[broker.Event]struct{}
	events []broker.Event
}

const historyCap = 4096

// Add records the events not seen yet and returns the history. The result
// is only valid until the next Add.
func (h *History) Add(batches ...[]broker.Event) []broker.Event {
	if h.seen == nil {
		h.seen = map[broker.Event]struct{}{}
	}
	for _, batch := range batches {
		for _, e := range batch {
			if _, ok := h.seen[e]; ok {
				continue
			}
			h.seen[e] = struct{}{}
			h.events = append(h.events, e)
		}
	}
	if len(h.events) > historyCap {
		drop := len(h.events) - historyCap/2
		for _, e := range h.events[:drop] {
			delete(h.seen, e)
		}
		h.events = slices.Delete(h.events, 0, drop)
	}
	return h.events
}

// LiveStep is a Step checked against a live front end's state: the latest
// snapshot and the events of the latest batch (nil after a snapshot).
type LiveStep struct {
	Text string
	Done func(snap app.Snapshot, batch []broker.Event) bool
}

// TourSteps adapts Steps to a live front end (the TUI's tour): each step
// sees the certificates of the latest snapshot and every event since the
// tour began.
func TourSteps(devices int) []LiveStep {
	h := &History{}
	steps := Steps(devices)
	out := make([]LiveStep, len(steps))
	for i, s := range steps {
		out[i] = LiveStep{Text: s.Text, Done: func(snap app.Snapshot, batch []broker.Event) bool {
			return s.Done(snap.Certs, h.Add(snap.Events, batch))
		}}
	}
	return out
}
