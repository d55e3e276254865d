package state_test

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/ui/state"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func snapshot() app.Snapshot {
	return app.Snapshot{
		Certs: []store.Cert{
			{ID: "aa01/1111111111111111", Serial: "aa01", CN: "dev1", State: store.StateActive},
			{ID: "bb02/1111111111111111", Serial: "bb02", CN: "dev2", State: store.StateActive},
			// The same serial from another CA: a different certificate.
			{ID: "aa01/2222222222222222", Serial: "aa01", CN: "acme-1", State: store.StateActive},
		},
		Sessions: []broker.Session{
			{ClientID: "dev1", Serial: "aa01", CertID: "aa01/1111111111111111", CN: "dev1", Transport: broker.TransportMQTTS, ConnectedAt: t0.Add(-time.Minute)},
			{ClientID: "dev2", Serial: "bb02", CertID: "bb02/1111111111111111", CN: "dev2", Transport: broker.TransportWSS, ConnectedAt: t0.Add(-time.Minute)},
		},
		Events: []broker.Event{{At: t0.Add(-time.Hour), Type: broker.EventConnected, ClientID: "dev1"}},
	}
}

func TestApply(t *testing.T) {
	tests := map[string]struct {
		events   []broker.Event
		sessions []string // client ids left, in any order
		dropped  map[string]string
		state    store.State // of dev1 afterwards
		other    store.State // of acme-1 afterwards; "" for active
		change   state.Change
	}{
		"ok/connect adds a session": {
			events:   []broker.Event{{At: t0, Type: broker.EventConnected, ClientID: "dev3", Serial: "cc03"}},
			sessions: []string{"dev1", "dev2", "dev3"}, state: store.StateActive,
			change: state.Change{Sessions: true},
		},
		"ok/suspend drops with its cause": {
			events: []broker.Event{
				{At: t0, Type: broker.EventCertState, Serial: "aa01", CertID: "aa01/1111111111111111", From: "active", To: "suspended"},
				{At: t0, Type: broker.EventDisconnected, ClientID: "dev1", Serial: "aa01", CertID: "aa01/1111111111111111", Reason: "suspended by operator"},
				{At: t0, Type: broker.EventRefused, Serial: "aa01", Reason: "suspended"},
			},
			sessions: []string{"dev2"}, dropped: map[string]string{"dev1": "suspended by operator"}, state: store.StateSuspended,
			change: state.Change{Sessions: true, Certs: true, Reload: true},
		},
		"ok/another CA's same serial is another certificate": {
			events:   []broker.Event{{At: t0, Type: broker.EventCertState, Serial: "aa01", CertID: "aa01/2222222222222222", From: "active", To: "suspended"}},
			sessions: []string{"dev1", "dev2"}, state: store.StateActive, other: store.StateSuspended,
			change: state.Change{Certs: true, Reload: true},
		},
		"ok/reconnect clears the dropped row": {
			events: []broker.Event{
				{At: t0, Type: broker.EventDisconnected, ClientID: "dev1", Reason: "kicked by operator"},
				{At: t0, Type: broker.EventConnected, ClientID: "dev1", Serial: "aa01"},
			},
			sessions: []string{"dev1", "dev2"}, state: store.StateActive, change: state.Change{Sessions: true},
		},
		"ok/resync asks for everything": {
			events:   []broker.Event{{At: t0, Type: broker.EventResync}},
			sessions: []string{"dev1", "dev2"}, state: store.StateActive, change: state.Change{Resync: true},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			s := state.New()
			s.Replace(snapshot(), t0, true)
			ch := s.Apply(tt.events, t0)
			if ch.Sessions != tt.change.Sessions || ch.Certs != tt.change.Certs || ch.Reload != tt.change.Reload || ch.Resync != tt.change.Resync {
				t.Fatalf("change = %+v, want %+v", ch, tt.change)
			}
			got := map[string]bool{}
			for _, ss := range s.Sessions() {
				got[ss.ClientID] = true
			}
			if len(got) != len(tt.sessions) {
				t.Fatalf("sessions %v, want %v", got, tt.sessions)
			}
			for _, id := range tt.sessions {
				if !got[id] {
					t.Fatalf("sessions %v lack %s", got, id)
				}
			}
			dropped := map[string]string{}
			for _, d := range s.Dropped() {
				dropped[d.ClientID] = d.Cause
			}
			if len(dropped) != len(tt.dropped) {
				t.Fatalf("dropped %v, want %v", dropped, tt.dropped)
			}
			for id, cause := range tt.dropped {
				if dropped[id] != cause {
					t.Fatalf("dropped %v, want %v", dropped, tt.dropped)
				}
			}
			if st := s.Snapshot().Certs[0].State; st != tt.state {
				t.Fatalf("dev1 is %s, want %s", st, tt.state)
			}
			if tt.other == "" {
				tt.other = store.StateActive
			}
			if st := s.Snapshot().Certs[2].State; st != tt.other {
				t.Fatalf("another CA's certificate with the same serial is %s, want %s", st, tt.other)
			}
		})
	}
}

func TestDroppedLingerThenGo(t *testing.T) {
	s := state.New()
	s.Replace(snapshot(), t0, true)
	s.Apply([]broker.Event{{At: t0, Type: broker.EventDisconnected, ClientID: "dev2", Reason: "kicked by operator"}}, t0)
	if s.Expire(t0.Add(state.Linger - time.Millisecond)) {
		t.Fatal("the dropped row went before its linger")
	}
	if len(s.Dropped()) != 1 {
		t.Fatalf("dropped = %v", s.Dropped())
	}
	if !s.Expire(t0.Add(state.Linger)) || len(s.Dropped()) != 0 {
		t.Fatalf("the dropped row outlived its linger: %v", s.Dropped())
	}
}

// A snapshot without events (a periodic refresh) keeps the live events
// folded in since; a full one replaces them.
func TestReplaceKeepsLiveEventsUnlessFull(t *testing.T) {
	s := state.New()
	s.Replace(snapshot(), t0, true)
	s.Apply([]broker.Event{{At: t0, Type: broker.EventRefused, Reason: "suspended"}}, t0)
	s.Replace(snapshot(), t0.Add(time.Second), false)
	if n := len(s.Recent()); n != 2 {
		t.Fatalf("after a refresh %d events, want 2", n)
	}
	s.Replace(snapshot(), t0.Add(2*time.Second), true)
	if n := len(s.Recent()); n != 1 {
		t.Fatalf("after a full snapshot %d events, want 1", n)
	}
}

func TestCountersPerMinute(t *testing.T) {
	s := state.New()
	s.Replace(snapshot(), t0, true)
	s.Apply([]broker.Event{
		{At: t0.Add(-2 * time.Minute), Type: broker.EventRefused},
		{At: t0.Add(-30 * time.Second), Type: broker.EventRefused},
		{At: t0.Add(-10 * time.Second), Type: broker.EventRefused},
		{At: t0.Add(-5 * time.Second), Type: broker.EventDenied},
	}, t0)
	c := s.Counters(t0)
	if c.Sessions != 2 || c.RefusedPerMin != 2 || c.DeniedPerMin != 1 {
		t.Fatalf("counters = %+v, want 2 sessions, 2 refused and 1 denied a minute", c)
	}
}

// A device publishing once a second, sampled every 2 s at jittered times,
// shows a rate within 10% of 1 msg/s once the window has filled, where the
// rate between two snapshots would swing from 0.5 to 1.5.
func TestSteadyDeviceRateIsSteady(t *testing.T) {
	s := state.New()
	jitter := []time.Duration{0, 300, -200, 100, -300, 200, 0, 250, -150, 50, 300, -250}
	for i, j := range jitter {
		at := t0.Add(time.Duration(2*i)*time.Second + j*time.Millisecond)
		snap := snapshot()
		snap.Sessions[0].MsgsIn = uint64(at.Sub(t0).Seconds() + 100) // one message a second
		s.Replace(snap, at, false)
	}
	rates := s.Rates("dev1")
	if len(rates) < 5 {
		t.Fatalf("rates = %v", rates)
	}
	for _, r := range rates[len(rates)-5:] {
		if r < 0.9 || r > 1.1 {
			t.Fatalf("rates = %v, want about 1 msg/s each", rates)
		}
	}
}
