package broker_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker"
)

// An event stream whose reader is too slow drops messages through the same
// accounting as mochi's queue drops: a dropped event at once, counts that
// add up to the session's dropped_out, and no refused "queue full" event.
func TestHTTPSSlowStreamReportsDrops(t *testing.T) {
	e := newEnv(t, withHTTPS(nil))
	cert, _ := e.issue(t, "streamer")
	// The helper's reader buffers a few events and then stops reading.
	e.subscribeSSE(t, e.httpsClient(t, &cert), "slow/%23")
	stream := func() (broker.Session, bool) {
		for _, s := range e.b.Sessions() {
			if s.Transport == broker.TransportHTTPS {
				return s, true
			}
		}
		return broker.Session{}, false
	}
	dropped := func() uint64 { s, _ := stream(); return s.DroppedOut }
	pubCert, _ := e.issue(t, "fast")
	pub, _ := e.session(t, broker.TransportMQTTS, &pubCert, connectPacket(4, "fast"))
	msg := publishPacket("slow/x", bytes.Repeat([]byte("x"), 32<<10))
	for i := 0; dropped() < 50; i++ {
		if i == 8000 { // 256 MB: far beyond any socket buffer
			t.Fatalf("only %d messages were dropped for the stalled stream", dropped())
		}
		if _, err := pub.Write(msg); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := stream()
	first := e.ev.wait(t, 1, broker.EventDropped, "", "")[0]
	if first.ClientID != s.ClientID || first.Count == 0 || !strings.HasPrefix(first.Reason, broker.ReasonQueueFull+": ") {
		t.Fatalf("first dropped event %+v, want the stream's (%s) with a count", first, s.ClientID)
	}
	_ = pub.Close()
	waitFor(t, func() bool {
		for _, s := range e.b.Sessions() {
			if s.ClientID == "fast" {
				return false
			}
		}
		return true
	}, wait, "the publisher's session to end")
	reported := func() uint64 {
		var sum uint64
		for _, ev := range e.ev.match(func(ev broker.Event) bool { return ev.Type == broker.EventDropped }) {
			sum += ev.Count
		}
		return sum
	}
	// Messages mochi queued for the stream before the publisher left may
	// still be dropped; the reports catch up within a second of the last.
	var total, sum uint64
	waitFor(t, func() bool { total, sum = dropped(), reported(); return sum == total }, wait, "the dropped events to add up to dropped_out")
	if total < 50 {
		t.Fatalf("dropped_out %d, want at least the 50 seen", total)
	}
	if refused := e.ev.match(func(ev broker.Event) bool {
		return ev.Type == broker.EventRefused && strings.HasPrefix(ev.Reason, broker.ReasonQueueFull)
	}); len(refused) > 0 {
		t.Fatalf("queue-full drops also reported as refused: %+v", refused)
	}
}
