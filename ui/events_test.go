package ui

import (
	"errors"
	"slices"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

// subscribed gives m a live event channel, as after Init's Subscribe.
func subscribed(m *Model) chan broker.Event {
	ch := make(chan broker.Event, 16)
	m.Update(subscribedMsg{ch: ch})
	return ch
}

// deliver hands events to m as the reader command would, and settles the
// commands that follow (a reload, the re-armed reader).
func deliver(m *Model, ch chan broker.Event, events ...broker.Event) {
	_, cmd := m.Update(eventsMsg{ch: ch, events: events})
	settle(m, cmd)
}

func TestDroppedSessionLingers(t *testing.T) {
	m, clk := loaded(t, newFake(), 80, 24, withStartPage(PageConnections))
	ch := subscribed(m)
	deliver(m, ch, broker.Event{At: t0, Type: broker.EventDisconnected, Reason: "suspended by operator",
		ClientID: "dev1-a", Serial: "3f2a9c1b7d5e4a01", CertID: "3f2a9c1b7d5e4a01/" + issuerHash, CN: "dev1", Transport: "mqtts", Remote: "10.0.0.5:50123"})
	requireContains(t, m.View(), "2 live sessions · 1 dropped session", "dev1-a", "✗ suspended by operator")

	clk.Advance(2 * time.Second)
	m.Update(tickMsg{})
	requireContains(t, m.View(), "✗ suspended by operator")

	clk.Advance(2 * time.Second)
	m.Update(tickMsg{})
	v := m.View()
	requireLacks(t, v, "dev1-a", "suspended by operator")
	requireContains(t, v, "2 live sessions", "dev1-b")
}

func TestConnectedEventAddsSession(t *testing.T) {
	m, _ := loaded(t, newFake(), 80, 24)
	ch := subscribed(m)
	deliver(m, ch, broker.Event{At: t0, Type: broker.EventConnected, ClientID: "sensor-7-x",
		Serial: "5d0e8812cc3b9a03", CertID: "5d0e8812cc3b9a03/" + issuerHash, CN: "sensor-7", Transport: "mqtts", Remote: "10.0.0.7:1"})
	requireContains(t, m.View(), "sensor-7                            inactive  5h!      1")
	press(m, "2")
	requireContains(t, m.View(), "4 live sessions", "sensor-7-x")
	press(m, "4")
	requireContains(t, m.View(), "6 events", "connected    sensor-7")
}

func TestCertStateEventReloads(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 80, 24)
	ch := subscribed(m)
	before := f.Snapshots()
	f.snap.Certs[1].State = store.StateActive // changed behind the TUI's back, e.g. by the CLI
	deliver(m, ch, broker.Event{At: t0, Type: broker.EventCertState, Serial: "9b1c44e0aa7f3302", CertID: "9b1c44e0aa7f3302/" + issuerHash, CN: "dev2", Reason: "active"})
	if f.Snapshots() != before+1 {
		t.Fatalf("snapshots = %d, want %d", f.Snapshots(), before+1)
	}
	requireContains(t, m.View(), "dev2                                active")
}

func TestResyncTriggersFullSnapshot(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 80, 24, withStartPage(PageActivity))
	ch := subscribed(m)
	deliver(m, ch, broker.Event{At: t0, Type: broker.EventRefused, Reason: "expired", Remote: "10.0.0.1:1"})
	requireContains(t, m.View(), "6 events")
	before := f.Snapshots()
	deliver(m, ch, broker.Event{Type: broker.EventResync})
	if f.Snapshots() != before+1 {
		t.Fatalf("snapshots = %d, want %d", f.Snapshots(), before+1)
	}
	// A full reload replaces the stream with the backend's recent events.
	requireContains(t, m.View(), "5 events")
	requireLacks(t, m.View(), "resync")
}

func TestResumeReloads(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 80, 24)
	_, cmd := m.Update(keyMsg("ctrl+z"))
	if msg := cmd(); msg != tea.Suspend() {
		t.Fatalf("ctrl+z gave %T, want tea.SuspendMsg", msg)
	}
	before := f.Snapshots()
	_, cmd = m.Update(tea.ResumeMsg{})
	settle(m, cmd)
	if f.Snapshots() != before+1 {
		t.Fatalf("snapshots = %d, want %d", f.Snapshots(), before+1)
	}
}

func TestStreamCloseResubscribes(t *testing.T) {
	m, _ := loaded(t, newFake(), 80, 24)
	ch := subscribed(m)
	_, cmd := m.Update(eventsMsg{ch: ch, closed: true})
	requireContains(t, m.View(), "event stream ended; reconnecting")
	if cmd == nil {
		t.Fatal("no resubscribe scheduled")
	}
	_, cmd = m.Update(resubscribeMsg{})
	settle(m, cmd)
	if m.events == nil || m.events == (<-chan broker.Event)(ch) {
		t.Fatal("not subscribed to a new stream")
	}
	requireLacks(t, m.View(), "reconnecting")
}

func TestStaleStreamIgnored(t *testing.T) {
	m, _ := loaded(t, newFake(), 80, 24, withStartPage(PageActivity))
	subscribed(m)
	old := make(chan broker.Event)
	_, cmd := m.Update(eventsMsg{ch: old, events: []broker.Event{{Type: broker.EventRefused, Reason: "x"}}})
	if cmd != nil {
		t.Fatal("re-armed a replaced stream")
	}
	requireContains(t, m.View(), "5 events")
}

func TestReadEventsBatches(t *testing.T) {
	ch := make(chan broker.Event, 2*eventBatchMax)
	for range eventBatchMax + 5 {
		ch <- broker.Event{Type: broker.EventConnected}
	}
	msg := readEvents(ch)().(eventsMsg)
	if len(msg.events) != eventBatchMax || msg.closed {
		t.Fatalf("first batch: %d events, closed %v", len(msg.events), msg.closed)
	}
	close(ch)
	msg = readEvents(ch)().(eventsMsg)
	if len(msg.events) != 5 || !msg.closed {
		t.Fatalf("second batch: %d events, closed %v", len(msg.events), msg.closed)
	}
}

// A snapshot asked for before an action's result must not undo the result
// on screen; a fresh one is asked for instead.
func TestStaleSnapshotAfterActionIsDropped(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 80, 24)
	old, _ := f.Snapshot(t.Context())
	gen := m.gen
	press(m, "s")
	_, cmd := m.Update(snapshotMsg{snap: old, gen: gen})
	requireContains(t, m.View(), "dev1                                suspended")
	if cmd == nil {
		t.Fatal("no fresh snapshot asked for")
	}
}

func TestTourAdvances(t *testing.T) {
	steps := []TourStep{
		{Text: "Look around", Done: func(app.Snapshot, []broker.Event) bool { return true }},
		{Text: "Suspend dev1", Done: func(s app.Snapshot, _ []broker.Event) bool {
			return len(s.Certs) > 0 && s.Certs[0].State == store.StateSuspended
		}},
		{Text: "Watch it drop", Done: func(_ app.Snapshot, evs []broker.Event) bool {
			for _, e := range evs {
				if e.Type == broker.EventDisconnected {
					return true
				}
			}
			return false
		}},
	}
	f := newFake()
	m, _ := loaded(t, f, 80, 24, WithTour(steps))
	requireContains(t, m.View(), "Tour 2/3 ▸ Suspend dev1")
	ch := subscribed(m)
	press(m, "s")
	requireContains(t, m.View(), "Tour 3/3 ▸ Watch it drop")
	deliver(m, ch, broker.Event{At: t0, Type: broker.EventDisconnected, ClientID: "dev1-a", Reason: "suspended by operator"})
	requireContains(t, m.View(), "Tour complete: all 3 steps done")
}

// Events may arrive before the first snapshot.
func TestEventsBeforeSnapshot(t *testing.T) {
	m := New(newFake(), withClock(func() time.Time { return t0 }))
	ch := subscribed(m)
	deliver(m, ch,
		broker.Event{At: t0, Type: broker.EventConnected, ClientID: "early", Transport: "mqtts"},
		broker.Event{At: t0, Type: broker.EventDisconnected, ClientID: "early", Reason: "expired"},
		broker.Event{At: t0, Type: broker.EventDisconnected, ClientID: "unknown", Reason: "revoked"})
	press(m, "2")
	requireContains(t, m.View(), "0 live sessions · 2 dropped sessions", "✗ expired", "✗ revoked")
}

// New connections appear above; the cursor stays on the session it was on.
func TestConnectionsCursorFollowsSession(t *testing.T) {
	m, _ := loaded(t, newFake(), 80, 24, withStartPage(PageConnections))
	ch := subscribed(m)
	press(m, "down") // dev1-b
	deliver(m, ch, broker.Event{At: t0, Type: broker.EventConnected, ClientID: "newcomer", Transport: "mqtts"})
	requireContains(t, m.View(), "> dev1-b")
}

// A dropped row lingers only if it matches the filter, like a live one.
func TestConnectionsFilterAppliesToDropped(t *testing.T) {
	drop := broker.Event{At: t0, Type: broker.EventDisconnected, Reason: "suspended by operator",
		ClientID: "dev1-b", Serial: "3f2a9c1b7d5e4a01", CertID: "3f2a9c1b7d5e4a01/" + issuerHash, CN: "dev1", Transport: "wss", Remote: "10.0.0.6:50124"}

	m, _ := loaded(t, newFake(), 80, 24, withStartPage(PageConnections))
	press(m, "/")
	typeText(m, "anon")
	press(m, "enter")
	ch := subscribed(m)
	deliver(m, ch, drop)
	v := m.View()
	requireContains(t, v, "anon-1", "1 of 3")
	requireLacks(t, v, "dev1-b", "suspended by operator")
	press(m, "esc")
	requireContains(t, m.View(), "2 live sessions · 1 dropped session", "dev1-b", "✗ suspended by operator")

	m, _ = loaded(t, newFake(), 80, 24, withStartPage(PageConnections))
	press(m, "/")
	typeText(m, "wss")
	press(m, "enter")
	ch = subscribed(m)
	deliver(m, ch, drop)
	requireContains(t, m.View(), "anon-1", "dev1-b", "✗ suspended by operator", "2 of 3")
}

func TestActivityFilter(t *testing.T) {
	m, _ := loaded(t, newFake(), 80, 24, withStartPage(PageActivity))
	press(m, "/")
	typeText(m, "refused")
	press(m, "enter")
	v := m.View()
	requireContains(t, v, "no client certificate", "1 match")
	requireLacks(t, v, "cert_state")
	ch := subscribed(m)
	deliver(m, ch,
		broker.Event{At: t0, Type: broker.EventRefused, Reason: "unknown CA", Remote: "10.9.9.9:1"},
		broker.Event{At: t0, Type: broker.EventConnected, ClientID: "other"})
	requireContains(t, m.View(), "unknown CA", "2 match")
	press(m, "esc")
	requireContains(t, m.View(), "7 events")
}

func TestActivityBounded(t *testing.T) {
	m, _ := loaded(t, newFake(), 80, 24, withStartPage(PageActivity))
	ch := subscribed(m)
	for range 3 {
		deliver(m, ch, churn(eventBatchMax)...)
	}
	requireContains(t, m.View(), "1000 events")
}

func TestPeriodicRefresh(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 80, 24)
	before := f.Snapshots()
	_, cmd := m.Update(refreshMsg{})
	settle(m, cmd)
	if f.Snapshots() != before+1 {
		t.Fatalf("snapshots = %d, want %d", f.Snapshots(), before+1)
	}
	// While one is in flight, a second refresh does not pile up.
	m.inflight = 1
	_, cmd = m.Update(refreshMsg{})
	settle(m, cmd)
	if f.Snapshots() != before+1 {
		t.Fatalf("snapshots = %d, want %d", f.Snapshots(), before+1)
	}
}

func TestSnapshotErrorClearsOnRecovery(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 80, 24)
	m.Update(snapshotMsg{err: errors.New("dial unix admin.sock: connection refused")})
	requireContains(t, m.View(), "error: load state: dial unix admin.sock: connection refused")
	s, _ := f.Snapshot(t.Context())
	m.Update(snapshotMsg{snap: s})
	requireLacks(t, m.View(), "error:")
}

// The details view follows events: the state changes, the dropped sessions
// linger struck through with their cause, and the history is asked again.
func TestDetailsStayLive(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 100, 30)
	ch := subscribed(m)
	press(m, "enter")
	requireContains(t, m.View(), "Certificate dev1", "Live sessions (2)")
	before := len(f.Calls())
	f.mu.Lock() // the daemon's side of it, for the reload the events ask for
	f.snap.Certs[0].State, f.snap.Certs[0].StateChangedAt = store.StateSuspended, t0
	f.snap.Sessions = slices.DeleteFunc(f.snap.Sessions, func(s broker.Session) bool { return s.ClientID == "dev1-a" })
	f.mu.Unlock()
	deliver(m, ch,
		broker.Event{At: t0, Type: broker.EventCertState, Serial: "3f2a9c1b7d5e4a01", CertID: "3f2a9c1b7d5e4a01/" + issuerHash, CN: "dev1", From: "active", To: "suspended"},
		broker.Event{At: t0, Type: broker.EventDisconnected, Reason: "suspended by operator", ClientID: "dev1-a",
			Serial: "3f2a9c1b7d5e4a01", CertID: "3f2a9c1b7d5e4a01/" + issuerHash, CN: "dev1", Transport: "mqtts", Remote: "10.0.0.5:50123"})
	requireContains(t, m.View(), "suspended since", "✗ suspended by operator", "dev1-a")
	if !slices.Contains(f.Calls()[before:], "History 3f2a9c1b7d5e4a01/5a1e0c7d9b2f4e61") {
		t.Fatalf("history not reloaded after the state change: %q", f.Calls()[before:])
	}
}

// When the backend goes away the title says so at once, with the age of
// what is shown; it clears when a snapshot arrives again.
func TestOfflineTitle(t *testing.T) {
	f := newFake()
	m, clk := loaded(t, f, 100, 30, withStartPage(PageHome))
	ch := subscribed(m)
	_, _ = m.Update(eventsMsg{ch: ch, closed: true})
	requireContains(t, m.titleView(), "NOT CONNECTED, last refreshed 0s ago")
	clk.Advance(12 * time.Second)
	m.Update(tickMsg{})
	requireContains(t, m.titleView(), "last refreshed 12s ago")
	s, _ := f.Snapshot(t.Context())
	m.Update(snapshotMsg{snap: s})
	requireLacks(t, m.titleView(), "NOT CONNECTED")
}
