package app

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/store"
)

// A refusal and a suspend survive a restart: in the persisted log, in the
// filters of Events and in the snapshot the TUI opens with.
func TestEventsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	a, err := Open(Config{DataDir: dir, Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.StartBroker(BrokerConfig{MQTTS: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	ts, _ := a.Transports(ctx)
	// No client certificate while client-cert auth is on: refused.
	if c, err := tls.Dial("tcp", ts[0].Addr, &tls.Config{InsecureSkipVerify: true}); err == nil {
		buf := make([]byte, 1)
		_, _ = c.Read(buf)
		c.Close()
	}
	b, err := a.IssueClient(ctx, IssueRequest{CN: "dev1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Transition(ctx, b.Cert.Serial, store.StateSuspended, "lost"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		evs, _ := a.Events(ctx, EventQuery{Types: []string{broker.EventRefused}})
		if len(evs) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	a, err = Open(Config{DataDir: dir, Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	tests := map[string]struct {
		q    EventQuery
		want []string // types, oldest first
	}{
		"refused":          {EventQuery{Types: []string{broker.EventRefused}}, []string{broker.EventRefused}},
		"by serial":        {EventQuery{Serial: b.Cert.Serial[:6]}, []string{broker.EventCertState, broker.EventCertState}},
		"newest one":       {EventQuery{Serial: b.Cert.Serial, Limit: 1}, []string{broker.EventCertState}},
		"since the future": {EventQuery{Since: time.Now().Add(time.Hour)}, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			evs, err := a.Events(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range evs {
				got = append(got, e.Type)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("types %v, want %v (%+v)", got, tc.want, evs)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("types %v, want %v", got, tc.want)
				}
			}
		})
	}
	snap, err := a.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Snapshot events are oldest first (the console merge made that the one
	// order everywhere): the suspend is the last of them.
	last := len(snap.Events) - 1
	if len(snap.Events) < 3 || snap.Events[last].Type != broker.EventCertState || snap.Events[last].Serial != b.Cert.Serial || snap.Events[last].To != string(store.StateSuspended) {
		t.Fatalf("snapshot after restart shows %+v, want the persisted history, oldest first, ending with the suspend", snap.Events)
	}
}
