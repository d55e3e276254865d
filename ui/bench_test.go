package ui

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/store"
)

// bigFake holds the scale the TUI must stay responsive at: 10,000
// certificates, 1,000 live sessions and 1,000 publishing clients.
func bigFake() *fakeBackend {
	f := newFake()
	f.snap.Certs = make([]store.Cert, 10_000)
	for i := range f.snap.Certs {
		f.snap.Certs[i] = store.Cert{
			Serial: fmt.Sprintf("%016x", i+1), CN: fmt.Sprintf("device-%05d", i), State: store.StateActive,
			NotAfter: t0.Add(time.Duration(i) * time.Hour), CreatedAt: t0.Add(-time.Duration(i) * time.Minute),
		}
	}
	f.snap.Sessions = make([]broker.Session, 1_000)
	for i := range f.snap.Sessions {
		f.snap.Sessions[i] = broker.Session{
			ClientID: fmt.Sprintf("client-%04d", i), Serial: fmt.Sprintf("%016x", i+1), CN: fmt.Sprintf("device-%05d", i),
			Transport: broker.TransportMQTTS, Remote: "10.0.0.1:1", ConnectedAt: t0.Add(-time.Duration(i) * time.Second),
		}
	}
	f.snap.Telemetry = manySeries(1_000)
	return f
}

// churn is a batch of n events: every session drops and reconnects.
func churn(n int) []broker.Event {
	evs := make([]broker.Event, 0, n)
	for i := 0; len(evs) < n; i++ {
		id, serial := fmt.Sprintf("client-%04d", i%1000), fmt.Sprintf("%016x", i%1000+1)
		evs = append(evs,
			broker.Event{At: t0, Type: broker.EventDisconnected, Reason: "expired", ClientID: id, Serial: serial},
			broker.Event{At: t0, Type: broker.EventConnected, ClientID: id, Serial: serial, Transport: broker.TransportMQTTS})
	}
	return evs
}

func BenchmarkSnapshot(b *testing.B) {
	f := bigFake()
	m, _ := loaded(b, f, 120, 40)
	s, _ := f.Snapshot(b.Context())
	for b.Loop() {
		m.Update(snapshotMsg{snap: s})
	}
}

// BenchmarkEventBatch is one full batch (the most a 33 ms window delivers).
func BenchmarkEventBatch(b *testing.B) {
	for _, page := range []Page{PageCertificates, PageConnections} {
		b.Run(page.String(), func(b *testing.B) {
			m, _ := loaded(b, bigFake(), 120, 40, withStartPage(page))
			ch := make(chan broker.Event)
			m.Update(subscribedMsg{ch: ch})
			evs := churn(eventBatchMax)
			for b.Loop() {
				m.Update(eventsMsg{ch: ch, events: evs})
				m.View()
			}
		})
	}
}

func BenchmarkView(b *testing.B) {
	for p := range pageCount {
		b.Run(p.String(), func(b *testing.B) {
			m, _ := loaded(b, bigFake(), 120, 40, withStartPage(p))
			press(m, "end")
			for b.Loop() {
				m.View()
			}
		})
	}
}

func BenchmarkFilterKeystroke(b *testing.B) {
	m, _ := loaded(b, bigFake(), 120, 40)
	press(m, "/")
	for b.Loop() {
		press(m, "9")
		press(m, "backspace")
	}
}
