package broker_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
	"github.com/gatehouse/gatehouse/store"
)

// handshakeRefusals returns the refused events with reason on transport that
// came from the TLS gate (no client ID: no MQTT byte was read).
func (e *env) waitHandshakeRefusal(tb testing.TB, reason, transport string) {
	tb.Helper()
	waitFor(tb, func() bool {
		return len(e.ev.match(func(ev broker.Event) bool {
			return ev.Type == broker.EventRefused && ev.Reason == reason && ev.Transport == transport && ev.ClientID == ""
		})) > 0
	}, wait, "refused %q on %s; events %+v", reason, transport, e.ev.match(func(broker.Event) bool { return true }))
}

func TestSuspendDropsExactlyThatCertificate(t *testing.T) {
	e := newEnv(t, nil)
	certA, serialA := e.issue(t, "device-a")
	certB, serialB := e.issue(t, "device-b")
	var as, bs []*client
	for i, tr := range []string{broker.TransportMQTTS, broker.TransportWSS, broker.TransportMQTTS} {
		as = append(as, e.mustConnect(t, tr, &certA, fmt.Sprintf("a%d", i)))
	}
	for i, tr := range []string{broker.TransportMQTTS, broker.TransportWSS} {
		bs = append(bs, e.mustConnect(t, tr, &certB, fmt.Sprintf("b%d", i)))
	}

	e.transition(t, serialA, store.StateSuspended)
	if n := e.b.DropSerial(serialA, pki.ReasonSuspended); n != 3 {
		t.Fatalf("DropSerial dropped %d, want 3", n)
	}
	for _, c := range as {
		waitLost(t, c)
	}
	e.ev.wait(t, 3, broker.EventDisconnected, pki.ReasonSuspended, serialA)
	if got := e.ev.match(func(ev broker.Event) bool { return ev.Type == broker.EventDisconnected }); len(got) != 3 {
		t.Fatalf("want exactly 3 disconnected events, got %+v", got)
	}
	for _, c := range bs {
		if !c.IsConnectionOpen() {
			t.Fatalf("%s was dropped with the other certificate", clientID(c))
		}
	}
	if a, b := e.b.SessionCount(serialA), e.b.SessionCount(serialB); a != 0 || b != 2 {
		t.Fatalf("session counts: a=%d b=%d", a, b)
	}

	for _, tr := range []string{broker.TransportMQTTS, broker.TransportWSS} {
		if _, err := e.connect(t, tr, &certA, "a-again-"+tr); err == nil {
			t.Fatalf("suspended certificate connected on %s", tr)
		}
		e.waitHandshakeRefusal(t, pki.ReasonSuspended, tr)
	}

	e.transition(t, serialA, store.StateActive)
	e.mustConnect(t, broker.TransportMQTTS, &certA, "a-back")

	e.transition(t, serialA, store.StateRevoked)
	if n := e.b.DropSerial(serialA, pki.ReasonRevoked); n != 1 {
		t.Fatalf("DropSerial after revoke dropped %d, want 1", n)
	}
	e.ev.wait(t, 1, broker.EventDisconnected, pki.ReasonRevoked, serialA)
	if _, err := e.connect(t, broker.TransportMQTTS, &certA, "a-revoked"); err == nil {
		t.Fatal("revoked certificate connected")
	}
	e.waitHandshakeRefusal(t, pki.ReasonRevoked, broker.TransportMQTTS)
	if _, err := e.a.Transition(serialA, store.StateActive, "test", "undo", 0); !errors.Is(err, pki.ErrTransition) {
		t.Fatalf("reactivating a revoked certificate: got %v, want ErrTransition", err)
	}
}

func TestSwitchingClientAuth(t *testing.T) {
	e := newEnv(t, func(c *broker.Config) {
		c.ClientAuth = map[string]bool{broker.TransportMQTTS: false, broker.TransportWSS: false}
	})
	cert, serial := e.issue(t, "with-cert")
	anon := e.mustConnect(t, broker.TransportMQTTS, nil, "anon")
	anonWSS := e.mustConnect(t, broker.TransportWSS, nil, "anon-wss")
	withCert := e.mustConnect(t, broker.TransportMQTTS, &cert, "with-cert")
	plain := e.mustConnect(t, broker.TransportMQTT, nil, "plain")

	// Off is one-way TLS, yet a presented certificate is still verified.
	bad, badSerial := e.issue(t, "suspended")
	e.transition(t, badSerial, store.StateSuspended)
	if _, err := e.connect(t, broker.TransportMQTTS, &bad, "bad"); err == nil {
		t.Fatal("suspended certificate connected with client auth off")
	}
	e.waitHandshakeRefusal(t, pki.ReasonSuspended, broker.TransportMQTTS)

	n, err := e.b.SetClientAuth(broker.TransportMQTTS, true)
	if err != nil || n != 1 {
		t.Fatalf("SetClientAuth on: dropped %d, err %v; want 1", n, err)
	}
	waitLost(t, anon)
	ev := e.ev.wait(t, 1, broker.EventDisconnected, broker.CauseMTLSOn, "")
	if ev[0].ClientID != "anon" || ev[0].Serial != "" {
		t.Fatalf("dropped the wrong session: %+v", ev)
	}
	for _, c := range []*client{anonWSS, withCert, plain} {
		if !c.IsConnectionOpen() {
			t.Fatalf("%s dropped by switching mqtts auth on", clientID(c))
		}
	}
	if !e.b.ClientAuth(broker.TransportMQTTS) || e.b.ClientAuth(broker.TransportWSS) {
		t.Fatal("ClientAuth does not reflect the switch")
	}
	if _, err := e.connect(t, broker.TransportMQTTS, nil, "anon-2"); err == nil {
		t.Fatal("connected without a certificate while client auth is on")
	}
	e.waitHandshakeRefusal(t, broker.ReasonNoClientCert, broker.TransportMQTTS)
	if e.b.SessionCount(serial) != 1 {
		t.Fatalf("certificate session lost: %v", sessionIDs(e.b))
	}

	if n, err := e.b.SetClientAuth(broker.TransportMQTTS, false); err != nil || n != 0 {
		t.Fatalf("SetClientAuth off: %d, %v", n, err)
	}
	e.mustConnect(t, broker.TransportMQTTS, nil, "anon-3")
}

func TestRefusedCertificates(t *testing.T) {
	e := newEnv(t, nil)
	foreign, _ := pkitest.Foreign(t, "foreign")
	tests := map[string]struct {
		cert   *tls.Certificate
		reason string
	}{
		"fail/expired":     {ptr(pkitest.ClientTLS(t, pkitest.Expired(t, e.a))), pki.ReasonExpired},
		"fail/foreign":     {&foreign, pki.ReasonUnknownCA},
		"fail/self-signed": {ptr(pkitest.SelfSigned(t, "self")), pki.ReasonSelfSigned},
		"fail/tampered":    {ptr(pkitest.Tampered(t, e.a)), pki.ReasonBadSignature},
		"fail/no cert":     {nil, broker.ReasonNoClientCert},
	}
	for name, tt := range tests {
		for _, tr := range []string{broker.TransportMQTTS, broker.TransportWSS} {
			t.Run(name+"/"+tr, func(t *testing.T) {
				if _, err := e.connect(t, tr, tt.cert, "refused"); err == nil {
					t.Fatal("connected")
				}
				e.waitHandshakeRefusal(t, tt.reason, tr)
			})
		}
	}
	if s := e.b.Sessions(); len(s) != 0 {
		t.Fatalf("sessions after refusals: %+v", s)
	}
}

func ptr[T any](v T) *T { return &v }

func TestExpiryMidSession(t *testing.T) {
	e := newEnv(t, func(c *broker.Config) { c.ExpiryCheck = 20 * time.Millisecond })
	iss, err := e.a.IssueClient(pki.ClientRequest{CN: "short-lived", TTL: 5 * time.Second}, "test")
	if err != nil {
		t.Fatal(err)
	}
	cert := pkitest.ClientTLS(t, iss)
	c := e.mustConnect(t, broker.TransportMQTTS, &cert, "short")
	waitLost(t, c)
	e.ev.wait(t, 1, broker.EventDisconnected, broker.CauseExpired, iss.Cert.ID)
	if _, err := e.connect(t, broker.TransportMQTTS, &cert, "short-again"); err == nil {
		t.Fatal("expired certificate connected")
	}
	e.waitHandshakeRefusal(t, pki.ReasonExpired, broker.TransportMQTTS)
}

func TestSessionTakeoverAndClientClose(t *testing.T) {
	e := newEnv(t, nil)
	cert, serial := e.issue(t, "twin")
	first := e.mustConnect(t, broker.TransportMQTTS, &cert, "same-id")
	second := e.mustConnect(t, broker.TransportWSS, &cert, "same-id")
	waitLost(t, first)
	e.ev.wait(t, 1, broker.EventDisconnected, broker.CauseTakenOver, serial)
	waitFor(t, func() bool { return e.b.SessionCount(serial) == 1 }, wait, "one session after takeover")
	second.Disconnect(100)
	e.ev.wait(t, 1, broker.EventDisconnected, broker.CauseClientClosed, serial)
	waitFor(t, func() bool { return e.b.SessionCount(serial) == 0 }, wait, "no session after client close")
}

func TestClientIDOfAnotherCertificateIsRefused(t *testing.T) {
	e := newEnv(t, nil)
	certA, serialA := e.issue(t, "owner")
	certB, serialB := e.issue(t, "intruder")
	owner := e.mustConnect(t, broker.TransportMQTTS, &certA, "meter-7")
	if _, err := e.connect(t, broker.TransportMQTTS, &certB, "meter-7"); err == nil {
		t.Fatal("a second certificate took over the client id")
	}
	e.ev.wait(t, 1, broker.EventRefused, broker.ReasonClientIDTaken, serialB)
	if !owner.IsConnectionOpen() || e.b.SessionCount(serialA) != 1 {
		t.Fatal("the owner's session did not survive")
	}
}

func TestMQTT5DropSendsAdministrativeAction(t *testing.T) {
	e := newEnv(t, nil)
	cert, serial := e.issue(t, "v5")
	c, err := dialRaw(e.addr[broker.TransportMQTTS], e.tlsConfig(&cert), 5, "v5-client")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, func() bool { return e.b.SessionCount(serial) == 1 }, wait, "v5 session registered")
	if n := e.b.DropSerial(serial, pki.ReasonSuspended); n != 1 {
		t.Fatalf("dropped %d", n)
	}
	reason, err := c.waitClosed()
	if err != nil {
		t.Fatal(err)
	}
	if reason != 0x98 {
		t.Fatalf("DISCONNECT reason %#x, want 0x98 administrative action", reason)
	}
}

func TestRacingConnectNeverSurvivesSuspend(t *testing.T) {
	e := newEnv(t, nil)
	rounds, racers := 50, 4
	if testing.Short() {
		rounds = 10
	}
	addr := e.addr[broker.TransportMQTTS]
	for i := range rounds {
		cert, serial := e.issue(t, fmt.Sprintf("race-%d", i))
		cfg := e.tlsConfig(&cert)
		warm, err := dialRaw(addr, cfg, 4, "warm") // first use activates the certificate
		if err != nil {
			t.Fatalf("round %d: warm-up: %v", i, err)
		}
		_ = warm.Close()

		got := make([]*rawClient, racers)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for j := range racers {
				if c, err := dialRaw(addr, cfg, 4, fmt.Sprintf("racer-%d-%d", i, j)); err == nil {
					got[j] = c
				}
			}
		}()
		time.Sleep(time.Duration(i%5) * time.Millisecond) // vary the interleaving
		e.transition(t, serial, store.StateSuspended)
		e.b.DropSerial(serial, pki.ReasonSuspended)
		<-done
		for j, c := range got {
			if c == nil {
				continue
			}
			if _, err := c.waitClosed(); err != nil {
				t.Fatalf("round %d: racer %d survived the suspend: %v", i, j, err)
			}
			_ = c.Close()
		}
		if n := e.b.SessionCount(serial); n != 0 {
			t.Fatalf("round %d: %d sessions of a suspended certificate", i, n)
		}
	}
}

// A persistent session left by one certificate is never inherited by another
// certificate using the same client ID: it gets a fresh session, and the
// owner can come back afterwards.
func TestPersistentSessionIsNotInheritedByAnotherCertificate(t *testing.T) {
	e := newEnv(t, nil)
	certA, serialA := e.issue(t, "owner")
	certB, _ := e.issue(t, "intruder")
	addr := e.addr[broker.TransportMQTTS]
	a, err := dialRawWith(addr, e.tlsConfig(&certA), connectPacketWith(4, "meter-7", false, 60))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write(subscribePacket("secret/#")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.readPacket(); err != nil {
		t.Fatal(err)
	}
	a.Write([]byte{0xE0, 0}) // DISCONNECT; the session persists
	a.waitClosed()
	waitFor(t, func() bool { return e.b.SessionCount(serialA) == 0 }, wait, "owner gone")

	b, err := dialRawWith(addr, e.tlsConfig(&certB), connectPacketWith(4, "meter-7", false, 60))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.present {
		t.Fatal("another certificate inherited the persistent session")
	}
	pubCert, _ := e.issue(t, "publisher")
	p, err := dialRaw(addr, e.tlsConfig(&pubCert), 4, "publisher")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Write(publishPacket("secret/x", []byte("for the owner only")))
	b.SetReadDeadline(time.Now().Add(time.Second))
	if typ, body, err := b.readPacket(); err == nil {
		t.Fatalf("the intruder received packet %#x %q", typ, body)
	}
}
