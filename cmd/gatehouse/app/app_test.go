package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// openTestApp opens an App in a temp dir with its broker on loopback.
func openTestApp(t *testing.T) (*App, string) {
	t.Helper()
	a, err := Open(Config{DataDir: t.TempDir(), Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if err := a.StartBroker(BrokerConfig{MQTTS: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	ts, _ := a.Transports(context.Background())
	return a, ts[0].Addr
}

// serverSerial completes a one-way TLS handshake and returns the serial of
// the server certificate, verified against the root.
func serverSerial(t *testing.T, a *App, addr string) string {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(a.Authority().RootPEM())
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return pki.FormatSerial(conn.ConnectionState().PeerCertificates[0].SerialNumber)
}

func TestRotateServerCertWithoutRestart(t *testing.T) {
	a, addr := openTestApp(t)
	ctx := context.Background()
	if _, err := a.SetClientAuth(ctx, broker.TransportMQTTS, false); err != nil {
		t.Fatal(err)
	}
	before := serverSerial(t, a, addr)
	if err := a.RotateServerCert(WithActor(ctx, "ops")); err != nil {
		t.Fatal(err)
	}
	if after := serverSerial(t, a, addr); after == before {
		t.Fatalf("server certificate %s did not change after rotation", before)
	}
	recs, err := a.Audit(ctx, store.AuditQuery{Limit: 1})
	if err != nil || len(recs) != 1 || recs[0].Action != "server.rotate" || recs[0].Actor != "ops" {
		t.Fatalf("rotation not audited: %+v %v", recs, err)
	}
}

func TestHubIsLossyAndAsksForResync(t *testing.T) {
	h := NewHub()
	ctx, cancel := context.WithCancel(context.Background())
	ch := h.Subscribe(ctx)
	at := time.Now()
	for i := 0; i < subscriberBuffer+10; i++ {
		h.Emit(broker.Event{At: at, Type: broker.EventConnected}) // never blocks on a reader that sleeps
	}
	for i := 0; i < subscriberBuffer; i++ {
		if e := <-ch; e.Type != broker.EventConnected {
			t.Fatalf("event %d: %s", i, e.Type)
		}
	}
	h.Emit(broker.Event{At: at, Type: broker.EventRefused, Reason: "expired"})
	if e := <-ch; e.Type != broker.EventResync {
		t.Fatalf("after a loss got %q, want a resync first", e.Type)
	}
	if e := <-ch; e.Type != broker.EventRefused {
		t.Fatalf("after the resync got %q", e.Type)
	}
	if got := len(h.Recent()); got != recentEvents {
		t.Fatalf("recent keeps %d events, want %d", got, recentEvents)
	}
	if last := h.Recent()[recentEvents-1]; last.Type != broker.EventRefused {
		t.Fatalf("newest retained event is %q", last.Type)
	}
	cancel()
	for range ch { // closes once the context ends
	}
}

func TestPublishedTelemetryReachesTheSnapshot(t *testing.T) {
	a, addr := openTestApp(t)
	ctx := context.Background()
	b, err := a.IssueClient(ctx, IssueRequest{CN: "sensor-1"})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair([]byte(b.ChainPEM), []byte(b.KeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(b.CAPEM))
	opts := paho.NewClientOptions().AddBroker("ssl://" + addr).SetClientID("sensor-1").
		SetTLSConfig(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(0)
	for _, temp := range []string{"20.5", "21.5"} {
		tok := c.Publish("kp1/demo-v1/dcx/sensor-1/json", 1, false, `[{"timestamp":1,"temperature":`+temp+`,"humidity":44}]`)
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	snap, err := a.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Telemetry) != 1 {
		t.Fatalf("telemetry: %+v", snap.Telemetry)
	}
	s := snap.Telemetry[0]
	if s.ClientID != "sensor-1" || len(s.Fields["temperature"]) != 2 || s.Fields["temperature"][1] != 21.5 || s.Fields["humidity"][0] != 44 {
		t.Fatalf("series: %+v", s)
	}
	if _, ok := s.Fields["timestamp"]; ok {
		t.Fatal("timestamp kept as a field")
	}
}

func TestLastSeenFollowsSessionsWithoutWrites(t *testing.T) {
	var l lastSeen
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := store.Cert{ID: "ab12cd/01", Serial: "ab12cd", LastSeen: t0}
	l.observe(broker.Event{At: t0.Add(time.Hour), Type: broker.EventDisconnected, Serial: "ab12cd", CertID: "ab12cd/01"})
	l.observe(broker.Event{At: t0.Add(2 * time.Hour), Type: broker.EventRefused, Serial: "ab12cd", CertID: "ab12cd/01"})
	l.overlay(&c, 0, t0.Add(3*time.Hour))
	if !c.LastSeen.Equal(t0.Add(time.Hour)) {
		t.Fatalf("last seen %v, want the disconnect, not the refusal", c.LastSeen)
	}
	l.overlay(&c, 1, t0.Add(3*time.Hour))
	if !c.LastSeen.Equal(t0.Add(3 * time.Hour)) {
		t.Fatalf("a connected certificate is seen now, got %v", c.LastSeen)
	}
}

func TestListingsFollowEveryChangeDespiteTheCache(t *testing.T) {
	a, _ := openTestApp(t)
	ctx := context.Background()
	state := func() store.State {
		t.Helper()
		snap, err := a.Snapshot(ctx)
		if err != nil || len(snap.Certs) != 1 {
			t.Fatalf("snapshot: %v, %d certificates", err, len(snap.Certs))
		}
		if snap.Certs[0].CertPEM != "" {
			t.Fatal("snapshots carry certificate PEMs")
		}
		return snap.Certs[0].State
	}
	if _, err := a.Snapshot(ctx); err != nil { // fill the cache while empty
		t.Fatal(err)
	}
	b, err := a.IssueClient(ctx, IssueRequest{CN: "cached"})
	if err != nil {
		t.Fatal(err)
	}
	if got := state(); got != store.StateInactive {
		t.Fatalf("after issue: %s", got)
	}
	leaf, err := tls.X509KeyPair([]byte(b.ChainPEM), []byte(b.KeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Authority().FirstUse([]*x509.Certificate{leaf.Leaf}); err != nil { // first use, inside the pki
		t.Fatal(err)
	}
	if got := state(); got != store.StateActive {
		t.Fatalf("after first use: %s", got)
	}
	if _, err := a.Transition(ctx, b.Cert.Serial, store.StateSuspended, "test"); err != nil {
		t.Fatal(err)
	}
	if got := state(); got != store.StateSuspended {
		t.Fatalf("after suspend: %s", got)
	}
	if certs, _ := a.ListCerts(ctx, store.StateActive); len(certs) != 0 {
		t.Fatalf("state filter: %d active", len(certs))
	}
}

func TestDefaultOutputDirStaysBelowTheWorkingDir(t *testing.T) {
	for cn, want := range map[string]string{"dev1": "dev1", "../etc": ".._etc", "a/b": "a_b", "..": "__"} {
		if got := dirFor(cn); got != want {
			t.Errorf("dirFor(%q) = %q, want %q", cn, got, want)
		}
	}
}
