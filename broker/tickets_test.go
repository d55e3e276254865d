package broker

import (
	"crypto/tls"
	"testing"
	"time"
)

// Session ticket keys rotate on a grid of ticketKeyPeriod; the previous key
// is kept one period for the tickets it issued, and dropped after an idle
// spell that made all of them older than that.
func TestTicketKeysRotate(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	conf := &tls.Config{}
	var k ticketKeys
	steps := []struct {
		name     string
		at       time.Time
		rotated  bool
		keepPrev bool
		next     time.Time
	}{
		{"first handshake", t0, true, false, t0.Add(ticketKeyPeriod)},
		{"within the period", t0.Add(ticketKeyPeriod / 2), false, false, t0.Add(ticketKeyPeriod)},
		{"just past due", t0.Add(ticketKeyPeriod + time.Minute), true, true, t0.Add(2 * ticketKeyPeriod)},
		{"idle for more than a period", t0.Add(4 * ticketKeyPeriod), true, false, t0.Add(5 * ticketKeyPeriod)},
	}
	for _, s := range steps {
		cur := k.cur
		k.rotate(conf, s.at)
		if changed := k.cur != cur; changed != s.rotated {
			t.Fatalf("%s: rotated = %v, want %v", s.name, changed, s.rotated)
		}
		kept := cur != ([32]byte{}) && k.prev == cur
		if s.rotated && kept != s.keepPrev {
			t.Fatalf("%s: previous key kept = %v, want %v", s.name, kept, s.keepPrev)
		}
		if s.rotated && !s.keepPrev && k.prev != ([32]byte{}) {
			t.Fatalf("%s: a previous key is still installed", s.name)
		}
		if got := time.Unix(0, k.next.Load()).UTC(); !got.Equal(s.next) {
			t.Fatalf("%s: next rotation %s, want %s", s.name, got, s.next)
		}
	}
}
