package ui

import (
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker"
)

// On the home view H switches client-cert auth of the https transport, as
// m and w do for mqtts and wss: it asks first, saying what it drops.
func TestHomeTogglesHTTPSAuth(t *testing.T) {
	f := newFake()
	f.snap.Transports = append(f.snap.Transports, broker.TransportInfo{Name: broker.TransportHTTPS, Addr: "0.0.0.0:8443", TLS: true, ClientAuth: false, Connected: 1})
	f.snap.Sessions = append(f.snap.Sessions, broker.Session{ClientID: "https-0a1b2c", Transport: broker.TransportHTTPS, Remote: "10.0.0.7:41000",
		Credential: broker.CredentialJWT, Subject: "dev9", ConnectedAt: t0.Add(-time.Minute), LastActivity: t0})
	m, _ := loaded(t, f, 120, 30, withStartPage(PageHome))
	requireContains(t, m.View(), "H https auth")

	press(m, "H")
	requireContains(t, m.View(), "client-cert auth ON for https? drops 1 session without a certificate")
	press(m, "n")
	if slices.Contains(f.Calls(), "SetClientAuth https true") {
		t.Fatalf("n switched anyway: calls = %v", f.Calls())
	}
	press(m, "H", "y")
	if !slices.Contains(f.Calls(), "SetClientAuth https true") {
		t.Fatalf("calls = %v", f.Calls())
	}
	press(m, "H")
	requireContains(t, m.View(), "client-cert auth OFF for https? any client may then connect")
	press(m, "y")
	if !slices.Contains(f.Calls(), "SetClientAuth https false") {
		t.Fatalf("calls = %v", f.Calls())
	}
}
