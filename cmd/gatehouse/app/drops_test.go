package app

import (
	"context"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/gatehouse/gatehouse/broker"
)

// A subscriber whose handler blocks stops reading, so the broker drops what
// it cannot queue for it: the drops show in the session, the totals, the
// metrics and the event log, never silently.
func TestSlowSubscriberDropsAreReported(t *testing.T) {
	a, err := Open(Config{DataDir: t.TempDir(), Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	m := a.Metrics() // its event counters count from here
	if err := a.StartBroker(BrokerConfig{MQTTS: "127.0.0.1:0", Limits: broker.Limits{MaxQueued: 8}}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ts, _ := a.Transports(ctx)
	b, err := a.IssueClient(ctx, IssueRequest{CN: "slow"})
	if err != nil {
		t.Fatal(err)
	}
	sub := connectWith(t, ts[0].Addr, b, b.KeyPEM, "slow-sub")
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before the clients disconnect
	if tok := sub.Subscribe("devices/slow/#", 0, func(paho.Client, paho.Message) { <-release }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	pub := connectWith(t, ts[0].Addr, b, b.KeyPEM, "slow-pub")
	payload := strings.Repeat("x", 32<<10)
	dropped := func() uint64 {
		for _, s := range a.broker().Sessions() {
			if s.ClientID == "slow-sub" {
				return s.DroppedOut
			}
		}
		return 0
	}
	for i := 0; dropped() == 0; i++ {
		if i == 4000 { // 128 MB: far beyond any socket buffer
			t.Fatal("no message was dropped for the stalled subscriber")
		}
		if tok := pub.Publish("devices/slow/data", 0, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	least := dropped()

	var evs []broker.Event
	waitFor(t, "a dropped event in the log", func() bool {
		evs, _ = a.Events(ctx, EventQuery{Types: []string{broker.EventDropped}})
		return len(evs) > 0
	})
	if e := evs[0]; e.ClientID != "slow-sub" || e.Count == 0 || e.Serial != b.Cert.Serial {
		t.Fatalf("dropped event %+v, want slow-sub's with a count", e)
	}
	waitFor(t, "the dropped events counted", func() bool { return gathered(t, m, "gatehouse_events_total", "type", broker.EventDropped) >= 1 })
	if got := gathered(t, m, "gatehouse_messages_dropped_total", "", ""); got < float64(least) {
		t.Fatalf("gatehouse_messages_dropped_total = %v, the session dropped at least %d", got, least)
	}
	if st := a.broker().Stats(); st.Dropped < int64(least) {
		t.Fatalf("Stats().Dropped = %d, the session dropped at least %d", st.Dropped, least)
	}
}

// gathered sums the samples of the metric family name, those whose label
// has value when label is set.
func gathered(t *testing.T, m *Metrics, name, label, value string) float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			ok := label == ""
			for _, l := range s.GetLabel() {
				ok = ok || l.GetName() == label && l.GetValue() == value
			}
			if ok {
				sum += s.GetCounter().GetValue() + s.GetGauge().GetValue()
			}
		}
	}
	return sum
}
