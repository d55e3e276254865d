package ui

import (
	"context"
	"fmt"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
)

// Page identifies one of the views, in tab order.
type Page int

// The views, in tab order; 0 (or h) selects home, the number keys 1..7 the
// others. Home came first and new views come last, so the numbers operators
// learnt for the others still hold.
const (
	PageHome Page = iota
	PageCertificates
	PageConnections
	PageTransports
	PageActivity
	PageTrust
	PageTelemetry
	PagePolicy
	pageCount
)

var pageNames = [pageCount]string{"Home", "Certificates", "Connections", "Transports", "Activity", "Trust", "Telemetry", "Policy"}

// String returns the tab title of the view.
func (p Page) String() string {
	if p < 0 || p >= pageCount {
		return "unknown"
	}
	return pageNames[p]
}

// Option configures a Model.
type Option func(*Model)

// WithContext bounds every Backend call and the event subscription; Run
// passes its own context. Quitting cancels a context derived from it.
func WithContext(ctx context.Context) Option {
	return func(m *Model) { m.parent = ctx }
}

// WithReadOnly marks a backend that refuses every change (a viewer's SSH
// console): the Policy view then offers no edits at all, rather than
// letting the operator type a rule only to see it refused.
func WithReadOnly() Option {
	return func(m *Model) { m.readOnly = true }
}

// WithTour shows guided steps above the status line and ticks them off as
// their Done conditions become true (for a demo mode).
func WithTour(steps []TourStep) Option {
	return func(m *Model) { m.tour = tour{steps: steps} }
}

// TourStep is one step of a guided demo shown above the status line.
type TourStep struct {
	// Text tells the operator what to do, e.g. "Press n to create a certificate".
	Text string
	// Done reports whether the step is accomplished, given the current state
	// and the events of the latest batch (nil after a snapshot). It runs in
	// Update, so it must be quick and must not block or call the backend.
	Done func(app.Snapshot, []broker.Event) bool
}

// tour tracks progress through the steps; steps are done in order.
type tour struct {
	steps []TourStep
	at    int
}

func (t *tour) active() bool { return len(t.steps) > 0 }

// advance ticks off the current step, and any following ones, whose
// condition holds.
func (t *tour) advance(s app.Snapshot, events []broker.Event) {
	for t.at < len(t.steps) {
		done := t.steps[t.at].Done
		if done == nil || !done(s, events) {
			return
		}
		t.at++
	}
}

func (t *tour) line() string {
	if t.at >= len(t.steps) {
		return fmt.Sprintf("Tour complete: all %d steps done ✓", len(t.steps))
	}
	return fmt.Sprintf("Tour %d/%d ▸ %s", t.at+1, len(t.steps), t.steps[t.at].Text)
}
