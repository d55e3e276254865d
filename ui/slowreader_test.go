package ui

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker"
)

// Messages dropped for a slow subscriber show on its Connections row, in
// the Connections summary and, from the dropped events, in the Home
// header's counters for a minute.
func TestSlowReaderDropsAreShown(t *testing.T) {
	f := newFake()
	f.snap.Sessions[0].DroppedOut = 1234 // dev1-a
	m, clk := loaded(t, f, 140, 30, withStartPage(PageConnections))
	requireContains(t, m.View(), "1 slow reader lost 1.2k messages (queue full)", "✗1.2k lost")

	ch := subscribed(m)
	drop := broker.Event{At: t0, Type: broker.EventDropped, Reason: broker.ReasonQueueFull + ": 700 messages dropped", Count: 700,
		ClientID: "dev1-a", Serial: "3f2a9c1b7d5e4a01", CertID: dev1ID, CN: "dev1", Transport: "mqtts", Remote: "10.0.0.5:50123"}
	second := drop
	second.At, second.Count = t0.Add(time.Second), 534
	deliver(m, ch, drop, second)
	press(m, "0")
	requireContains(t, m.View(), "0 denied/min · 1.2k dropped/min")

	clk.Advance(2 * time.Minute)
	m.Update(tickMsg{})
	requireLacks(t, m.View(), "dropped/min")
}

// Without drops nothing about them is shown.
func TestNoDropsNoCounter(t *testing.T) {
	m, _ := loaded(t, newFake(), 140, 30, withStartPage(PageConnections))
	requireLacks(t, m.View(), "slow reader", "lost")
	press(m, "0")
	requireLacks(t, m.View(), "dropped/min")
}
