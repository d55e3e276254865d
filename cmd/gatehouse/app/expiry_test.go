package app

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/store"
)

func TestExpiring(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	window := 30 * 24 * time.Hour
	tests := map[string]struct {
		state    store.State
		notAfter time.Time
		want     bool
	}{
		"ok/active within window": {store.StateActive, now.Add(10 * 24 * time.Hour), true},
		"ok/inactive at the edge": {store.StateInactive, now.Add(window), true},
		"skip/beyond window":      {store.StateActive, now.Add(window + time.Minute), false},
		"skip/already expired":    {store.StateActive, now.Add(-time.Minute), false},
		"skip/revoked":            {store.StateRevoked, now.Add(24 * time.Hour), false},
		"skip/suspended":          {store.StateSuspended, now.Add(24 * time.Hour), false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := store.Cert{State: tc.state, NotAfter: tc.notAfter}
			if got := Expiring(c, now, window); got != tc.want {
				t.Errorf("Expiring = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDaysLeftRoundsToTheNearestDay(t *testing.T) {
	day := 24 * time.Hour
	for d, want := range map[time.Duration]string{
		30*day - time.Second:  "30d", // a fresh 30d certificate
		29*day + 13*time.Hour: "30d",
		29*day + 11*time.Hour: "29d",
		5 * time.Hour:         "5h0m0s",
	} {
		if got := daysLeft(d); got != want {
			t.Errorf("daysLeft(%v) = %q, want %q", d, got, want)
		}
	}
}

// A certificate entering the warning window raises one expiring event; one
// outside it, or revoked, raises none.
func TestWarnExpiringOncePerCertificate(t *testing.T) {
	// No broker: its own expiry loop would race with this one.
	a, err := Open(Config{DataDir: t.TempDir(), Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := a.hub.Subscribe(ctx)
	soon, err := a.IssueClient(ctx, IssueRequest{CN: "soon", TTL: "10d"})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := a.IssueClient(ctx, IssueRequest{CN: "gone", TTL: "10d"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Transition(ctx, gone.Cert.Serial, store.StateRevoked, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.IssueClient(ctx, IssueRequest{CN: "later", TTL: "90d"}); err != nil {
		t.Fatal(err)
	}
	loop, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); a.warnExpiring(loop, 30*24*time.Hour, 5*time.Millisecond) }()
	var got []broker.Event
	deadline := time.After(300 * time.Millisecond)
collect:
	for {
		select {
		case e := <-events:
			if e.Type == broker.EventExpiring {
				got = append(got, e)
			}
		case <-deadline:
			break collect
		}
	}
	stop()
	<-done
	per := map[string]int{}
	for _, e := range got {
		per[e.CN]++
	}
	if per["soon"] != 1 || per["gone"] != 0 || per["later"] != 0 {
		t.Fatalf("expiring events per CN %v, want soon once and no other", per)
	}
	if got[0].Serial != soon.Cert.Serial || got[0].Reason == "" {
		t.Errorf("event %+v lacks the serial or the reason", got[0])
	}
}
