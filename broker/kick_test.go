package broker_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/broker"
)

// A kicked session goes with its cause and only that session; the same
// certificate may connect again at once.
func TestKickDropsOneSessionThatMayReconnect(t *testing.T) {
	e := newEnv(t, nil)
	cert, serial := e.issue(t, "device-k")
	kicked := e.mustConnect(t, broker.TransportMQTTS, &cert, "k1")
	other := e.mustConnect(t, broker.TransportMQTTS, &cert, "k2")

	if !e.b.Kick("k1", "") {
		t.Fatal("Kick found no session k1")
	}
	waitLost(t, kicked)
	e.ev.wait(t, 1, broker.EventDisconnected, broker.CauseKicked, serial)
	if !other.IsConnectionOpen() {
		t.Fatal("kicking k1 dropped k2 too")
	}
	e.mustConnect(t, broker.TransportMQTTS, &cert, "k1")
	if e.b.Kick("nobody", "") {
		t.Fatal("Kick reported a session for an unknown client id")
	}
}
