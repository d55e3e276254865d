package demo_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/demo"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

var tourT0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// at is an event n seconds into the tour.
func at(n int, e broker.Event) broker.Event {
	e.At = tourT0.Add(time.Duration(n) * time.Second)
	return e
}

func fleetCerts(n int) []store.Cert {
	var certs []store.Cert
	for i := 1; i <= n; i++ {
		certs = append(certs, store.Cert{Serial: fmt.Sprintf("%02x", i), CN: demo.DeviceName(i), State: store.StateActive})
	}
	return certs
}

var (
	noCertIn   = broker.Event{Type: broker.EventConnected, ClientID: demo.NoCertDevice}
	noCertOut  = broker.Event{Type: broker.EventRefused, Reason: pki.ReasonNoCert}
	suspended  = broker.Event{Type: broker.EventRefused, Reason: pki.ReasonSuspended, Serial: "03", CN: "device-3"}
	reactivate = broker.Event{Type: broker.EventCertState, Reason: "suspended -> active: demo", From: "suspended", To: "active", Serial: "03", CN: "device-3"}
	device3In  = broker.Event{Type: broker.EventConnected, ClientID: "device-3", Serial: "03", CN: "device-3"}
)

func TestSteps(t *testing.T) {
	own := append(fleetCerts(5), store.Cert{Serial: "aa", CN: "my-sensor", State: store.StateInactive})
	revoked := slices.Clone(own)
	revoked[5].State = store.StateRevoked
	tests := map[string]struct {
		step   int
		certs  []store.Cert
		events []broker.Event
		want   bool
	}{
		"fail/1 no-cert device never in":          {0, fleetCerts(5), []broker.Event{at(1, noCertOut)}, false},
		"ok/1 no-cert device in":                  {0, fleetCerts(5), []broker.Event{at(1, noCertIn)}, true},
		"fail/2 refused only before it got in":    {1, fleetCerts(5), []broker.Event{at(1, noCertOut), at(2, noCertIn)}, false},
		"ok/2 refused after it got in":            {1, fleetCerts(5), []broker.Event{at(3, noCertOut), at(2, noCertIn)}, true},
		"fail/3 only fleet certificates":          {2, fleetCerts(5), nil, false},
		"ok/3 a certificate of one's own":         {2, own, nil, true},
		"fail/4 no suspended refusal":             {3, own, []broker.Event{at(1, noCertOut)}, false},
		"ok/4 a suspended device refused":         {3, own, []broker.Event{at(1, suspended)}, true},
		"fail/5 reactivated, not back yet":        {4, own, []broker.Event{at(1, device3In), at(5, reactivate)}, false},
		"fail/5 another device back":              {4, own, []broker.Event{at(5, reactivate), at(6, broker.Event{Type: broker.EventConnected, Serial: "01"})}, false},
		"ok/5 reactivated and back, newest first": {4, own, []broker.Event{at(6, device3In), at(5, reactivate)}, true},
		"fail/6 nothing revoked":                  {5, own, nil, false},
		"ok/6 revoked":                            {5, revoked, nil, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			steps := demo.Steps(5)
			if got := steps[tc.step].Done(tc.certs, tc.events); got != tc.want {
				t.Fatalf("step %d (%s): done %v, want %v", tc.step+1, steps[tc.step].Text, got, tc.want)
			}
		})
	}
}

func TestStepsNameTheTarget(t *testing.T) {
	for devices, target := range map[int]string{5: "device-3", 2: "device-2", 0: "device-1"} {
		steps := demo.Steps(devices)
		if !strings.Contains(steps[3].Text, target) || !strings.Contains(steps[4].Text, target) {
			t.Errorf("%d devices: steps name %q / %q, want %s", devices, steps[3].Text, steps[4].Text, target)
		}
	}
}

// TestTourStepsAcrossBatches feeds the TUI's tour the way the TUI does: a
// snapshot first, then one batch of live events at a time, in order.
func TestTourStepsAcrossBatches(t *testing.T) {
	steps := demo.TourSteps(5)
	snap := app.Snapshot{Certs: fleetCerts(5), Events: []broker.Event{at(1, noCertIn)}}
	next := 0
	advance := func(batch []broker.Event) {
		for next < len(steps) && steps[next].Done(snap, batch) {
			next++
		}
	}
	advance(nil)
	if next != 1 {
		t.Fatalf("after the snapshot, %d steps done, want 1", next)
	}
	advance([]broker.Event{at(2, noCertOut)}) // proves step 2 only with the snapshot's event
	if next != 2 {
		t.Fatalf("after the refusal, %d steps done, want 2", next)
	}
	snap.Certs = append(snap.Certs, store.Cert{Serial: "aa", CN: "mine"})
	advance(nil)
	advance([]broker.Event{at(3, suspended), at(4, reactivate)})
	if next != 4 {
		t.Fatalf("%d steps done, want 4", next)
	}
	advance([]broker.Event{at(5, device3In)})
	snap.Certs[0].State = store.StateRevoked
	advance(nil)
	if next != len(steps) {
		t.Fatalf("%d steps done, want all %d", next, len(steps))
	}
}

func TestHistoryIsBounded(t *testing.T) {
	var h demo.History
	for i := range 10000 {
		h.Add([]broker.Event{at(i, broker.Event{Type: broker.EventConnected})})
	}
	got := h.Add(nil)
	if len(got) > 4096 || !got[len(got)-1].At.Equal(tourT0.Add(9999*time.Second)) {
		t.Fatalf("history of %d events ending %v", len(got), got[len(got)-1].At)
	}
	if n := len(h.Add(got[:10])); n != len(got) {
		t.Fatalf("re-adding known events grew the history to %d", n)
	}
}

// Every step, as the TUI prints it, fits an 80-column terminal.
func TestStepsFit80Columns(t *testing.T) {
	for _, devices := range []int{1, 5, 50} {
		steps := demo.Steps(devices)
		for i, s := range steps {
			line := fmt.Sprintf("Tour %d/%d ▸ %s", i+1, len(steps), s.Text)
			if n := len([]rune(line)); n > 80 {
				t.Errorf("%d devices, step %d is %d columns: %q", devices, i+1, n, line)
			}
		}
	}
}
