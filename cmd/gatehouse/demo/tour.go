package demo

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// Step is one step of the guided tour (--tour): what the operator should do
// next, and how to tell it was done from what the TUI already holds.
//
// Done must not depend on the order of events (a Backend snapshot lists them
// newest first, the event hub oldest first) and must be cheap: it runs on
// every refresh. It may stop holding once the events proving it scroll out of
// the recent window; Tour keeps ticks once made.
type Step struct {
	Text string
	Done func(certs []store.Cert, events []broker.Event) bool
}

// Steps is the tutorial of the Kaa guide "Authenticating client with SSL/TLS
// certificate" played on the demo fleet: one-way TLS, then mutual TLS, then a
// certificate of one's own, suspend, reactivate and revoke, for a fleet of
// the given number of telemetry devices. The steps point at device-3 (or the
// last device of a smaller fleet) but accept the same action on any other.
func Steps(devices int) []Step {
	devices = max(devices, 1)
	target := DeviceName(min(3, devices))
	fleet := map[string]bool{}
	for i := 1; i <= devices; i++ {
		fleet[DeviceName(i)] = true
	}
	return []Step{
		{
			Text: "Press 3 (Transports), then m on mqtts: with client-cert auth off, " + NoCertDevice + " gets in over one-way TLS",
			Done: func(_ []store.Cert, events []broker.Event) bool {
				return len(connectedAt(events, func(e broker.Event) bool { return e.ClientID == NoCertDevice })) > 0
			},
		},
		{
			Text: "Press m again: client-cert auth is back on, " + NoCertDevice + " is dropped and refused (Activity, 4)",
			Done: func(_ []store.Cert, events []broker.Event) bool {
				in := connectedAt(events, func(e broker.Event) bool { return e.ClientID == NoCertDevice })
				return anyAfter(in, events, func(e broker.Event) bool {
					return e.Type == broker.EventRefused && e.Reason == pki.ReasonNoCert
				})
			},
		},
		{
			Text: "Press 1 (Certificates), then n to create a certificate for your own device",
			Done: func(certs []store.Cert, _ []broker.Event) bool {
				return slices.ContainsFunc(certs, func(c store.Cert) bool {
					return !fleet[c.CN]
				})
			},
		},
		{
			Text: "Select " + target + " and press s to suspend it: it drops from Connections (2) and its retries are refused",
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
					if e.Type != broker.EventCertState || !strings.HasPrefix(e.Reason, "suspended -> active") {
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
			Text: "Press x to revoke a certificate: revocation is final, its device stays refused",
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

// Tour tracks progress through steps. Ticks are sticky: once a step's Done
// held it stays done, and steps may be done in any order; the one shown is
// the first not done. It is safe for concurrent use, so a TUI may call it from
// Update or from a command.
type Tour struct {
	steps []Step

	mu   sync.Mutex
	done []bool
}

// NewTour starts a tour over steps, none done.
func NewTour(steps []Step) *Tour {
	return &Tour{steps: steps, done: make([]bool, len(steps))}
}

// Observe ticks off every step whose Done now holds and reports whether any
// step was newly ticked.
func (t *Tour) Observe(certs []store.Cert, events []broker.Event) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	ticked := false
	for i, s := range t.steps {
		if !t.done[i] && s.Done(certs, events) {
			t.done[i], ticked = true, true
		}
	}
	return ticked
}

// Done reports which steps are done, in order.
func (t *Tour) Done() []bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.done)
}

// Line is the status-area text: the next step with its number and how many
// are done, or a closing line once every step is done.
func (t *Tour) Line() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, d := range t.done {
		if d {
			n++
		}
	}
	i := slices.Index(t.done, false)
	if i < 0 {
		return fmt.Sprintf("Tour complete: all %d steps done", n)
	}
	return fmt.Sprintf("Tour step %d/%d (%d done): %s", i+1, len(t.steps), n, t.steps[i].Text)
}

// Status observes the state and returns Line: the one call a TUI needs to
// refresh its status area.
func (t *Tour) Status(certs []store.Cert, events []broker.Event) string {
	t.Observe(certs, events)
	return t.Line()
}
