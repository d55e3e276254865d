package broker_test

import (
	"crypto/tls"
	"testing"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/pki"
)

func TestPersistentSessionDroppedThenResumed(t *testing.T) {
	e := newEnv(t, nil)
	cert, serial := e.issue(t, "persistent")
	addr, cfg := e.addr[broker.TransportMQTTS], e.tlsConfig(&cert)
	c, err := dialRawWith(addr, cfg, connectPacketWith(4, "keeper", false, 60))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n := e.b.DropSerial(serial, pki.ReasonSuspended); n != 1 {
		t.Fatalf("dropped %d", n)
	}
	if _, err := c.waitClosed(); err != nil {
		t.Fatal(err)
	}
	// mochi keeps the closed client for its session; the index must not.
	if n := e.b.SessionCount(serial); n != 0 || len(e.b.Sessions()) != 0 {
		t.Fatalf("closed persistent session still listed: %+v", e.b.Sessions())
	}
	if n := e.b.DropSerial(serial, pki.ReasonSuspended); n != 0 {
		t.Fatalf("second drop closed %d", n)
	}
	again, err := dialRawWith(addr, cfg, connectPacketWith(4, "keeper", false, 60))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if !again.present {
		t.Fatal("session not resumed")
	}
	e.ev.wait(t, 2, broker.EventConnected, "", serial)
	if got := e.ev.match(func(ev broker.Event) bool { return ev.Reason == broker.CauseTakenOver }); len(got) != 0 {
		t.Fatalf("resuming a closed session reported a takeover: %+v", got)
	}
	if n := e.b.SessionCount(serial); n != 1 {
		t.Fatalf("resumed session count %d", n)
	}
}

func TestKeepaliveTimeout(t *testing.T) {
	e := newEnv(t, nil)
	cert, serial := e.issue(t, "sleepy")
	c, err := dialRawWith(e.addr[broker.TransportMQTTS], e.tlsConfig(&cert), connectPacketWith(4, "sleepy", true, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.waitClosed(); err != nil {
		t.Fatal(err)
	}
	e.ev.wait(t, 1, broker.EventDisconnected, broker.CauseKeepalive, serial)
}

func TestTLSPolicy(t *testing.T) {
	e := newEnv(t, nil)
	srv, err := e.a.IssueServer([]string{"not-a-client"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.connect(t, broker.TransportMQTTS, srv, "server-cert"); err == nil {
		t.Fatal("a serverAuth-only certificate connected as a client")
	}
	e.waitHandshakeRefusal(t, pki.ReasonWrongKeyUsage, broker.TransportMQTTS)

	cert, _ := e.issue(t, "old-tls")
	cfg := e.tlsConfig(&cert)
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if c, err := tls.Dial("tcp", e.addr[broker.TransportMQTTS], cfg); err == nil {
		_ = c.Close()
		t.Fatal("TLS 1.1 handshake succeeded")
	}
	e.waitHandshakeRefusal(t, "unsupported TLS version", broker.TransportMQTTS)
}
