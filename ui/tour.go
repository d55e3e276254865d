package ui

import (
	"fmt"

	"github.com/gatehouse/gatehouse/broker"
)

// TourStep is one step of a guided demo shown above the status line.
type TourStep struct {
	// Text tells the operator what to do, e.g. "Press n to create a certificate".
	Text string
	// Done reports whether the step is accomplished, given the current state
	// and the events of the latest batch (nil after a snapshot). It runs in
	// Update, so it must be quick and must not block or call the backend.
	Done func(Snapshot, []broker.Event) bool
}

// tour tracks progress through the steps; steps are done in order.
type tour struct {
	steps []TourStep
	at    int
}

func (t *tour) active() bool { return len(t.steps) > 0 }

// advance ticks off the current step, and any following ones, whose
// condition holds.
func (t *tour) advance(s Snapshot, events []broker.Event) {
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
