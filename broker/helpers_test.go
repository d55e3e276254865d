package broker_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
	"github.com/gatehouse/gatehouse/store"
)

// wait bounds every waitFor: generous, because -race slows handshakes down.
const wait = 15 * time.Second

// waitFor polls cond until it holds or timeout passes.
func waitFor(tb testing.TB, cond func() bool, timeout time.Duration, what string, args ...any) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for "+what, append([]any{timeout}, args...)...)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// recorder collects events; Emit appends under a mutex and never blocks long.
type recorder struct {
	mu  sync.Mutex
	all []broker.Event
}

func (r *recorder) emit(ev broker.Event) {
	r.mu.Lock()
	r.all = append(r.all, ev)
	r.mu.Unlock()
}

// match returns the events for which keep holds.
func (r *recorder) match(keep func(broker.Event) bool) []broker.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []broker.Event
	for _, ev := range r.all {
		if keep(ev) {
			out = append(out, ev)
		}
	}
	return out
}

// wait waits until at least n events of type typ with reason and serial
// (empty: any) were emitted, and returns them.
func (r *recorder) wait(tb testing.TB, n int, typ, reason, serial string) []broker.Event {
	tb.Helper()
	var got []broker.Event
	sel := func(ev broker.Event) bool {
		return ev.Type == typ && (reason == "" || ev.Reason == reason) && (serial == "" || ev.CertID == serial)
	}
	waitFor(tb, func() bool { got = r.match(sel); return len(got) >= n }, wait,
		"%d %s events (reason %q, serial %q); have %v", n, typ, reason, serial, r.match(func(broker.Event) bool { return true }))
	return got
}

// env is a started broker on loopback with a real pki behind it.
type env struct {
	a    *pki.Authority
	b    *broker.Broker
	ev   *recorder
	pool *x509.CertPool
	addr map[string]string
}

// newEnv starts mqtts, wss and plain mqtt on 127.0.0.1:0; mutate may change
// the config first.
func newEnv(tb testing.TB, mutate func(*broker.Config)) *env {
	tb.Helper()
	a, _ := pkitest.New(tb)
	srv, err := a.IssueServer([]string{"localhost", "127.0.0.1"})
	if err != nil {
		tb.Fatalf("issue server certificate: %v", err)
	}
	var sc pki.ServerCert
	sc.Set(srv)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(a.RootPEM()) {
		tb.Fatal("root PEM has no certificate")
	}
	e := &env{a: a, ev: &recorder{}, pool: pool, addr: map[string]string{}}
	cfg := broker.Config{
		MQTTSAddr:      "127.0.0.1:0",
		WSSAddr:        "127.0.0.1:0",
		MQTTAddr:       "127.0.0.1:0",
		GetCertificate: sc.GetCertificate,
		Authorizer:     a,
		Emit:           e.ev.emit,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	e.b, err = broker.New(cfg)
	if err != nil {
		tb.Fatalf("new broker: %v", err)
	}
	if err := e.b.Start(); err != nil {
		tb.Fatalf("start broker: %v", err)
	}
	tb.Cleanup(func() {
		if err := e.b.Close(); err != nil {
			tb.Errorf("close broker: %v", err)
		}
	})
	for _, ti := range e.b.Transports() {
		e.addr[ti.Name] = ti.Addr
	}
	return e
}

// issue returns a fresh client certificate and its ID (serial and issuer),
// which sessions, events, DropSerial and transitions identify it by.
func (e *env) issue(tb testing.TB, cn string) (tls.Certificate, string) {
	tb.Helper()
	iss := pkitest.Issue(tb, e.a, cn)
	return pkitest.ClientTLS(tb, iss), iss.Cert.ID
}

// transition changes a certificate's state or fails the test.
func (e *env) transition(tb testing.TB, serial string, to store.State) {
	tb.Helper()
	if _, err := e.a.Transition(serial, to, "test", "test", 0); err != nil {
		tb.Fatalf("transition %s to %s: %v", serial, to, err)
	}
}

// tlsConfig trusts our root and presents cert when given.
func (e *env) tlsConfig(cert *tls.Certificate) *tls.Config {
	c := &tls.Config{RootCAs: e.pool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

// client is a paho client and the error that ended its connection.
type client struct {
	paho.Client
	lost chan error
	msgs chan paho.Message
}

// connect opens a paho session on transport; the error is the refusal.
func (e *env) connect(tb testing.TB, transport string, cert *tls.Certificate, id string) (*client, error) {
	tb.Helper()
	return e.connectWith(tb, transport, cert, id, nil)
}

// connectWith is connect with options changed by mutate (credentials).
func (e *env) connectWith(tb testing.TB, transport string, cert *tls.Certificate, id string, mutate func(*paho.ClientOptions)) (*client, error) {
	tb.Helper()
	url := map[string]string{
		broker.TransportMQTTS: "tls://" + e.addr[broker.TransportMQTTS],
		broker.TransportWSS:   "wss://" + e.addr[broker.TransportWSS] + "/mqtt",
		broker.TransportMQTT:  "tcp://" + e.addr[broker.TransportMQTT],
	}[transport]
	c := &client{lost: make(chan error, 1), msgs: make(chan paho.Message, 64)}
	opts := paho.NewClientOptions().
		AddBroker(url).
		SetClientID(id).
		SetTLSConfig(e.tlsConfig(cert)).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(wait).
		SetKeepAlive(30 * time.Second).
		SetOrderMatters(false).
		SetConnectionLostHandler(func(_ paho.Client, err error) { c.lost <- err }).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { c.msgs <- m })
	if mutate != nil {
		mutate(opts)
	}
	c.Client = paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(wait) {
		return nil, fmt.Errorf("connect %s: timed out", url)
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	tb.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

// mustConnect connects or fails the test.
func (e *env) mustConnect(tb testing.TB, transport string, cert *tls.Certificate, id string) *client {
	tb.Helper()
	c, err := e.connect(tb, transport, cert, id)
	if err != nil {
		tb.Fatalf("connect %s as %s: %v", transport, id, err)
	}
	return c
}

// waitLost waits until the broker has closed c's connection.
func waitLost(tb testing.TB, c *client) {
	tb.Helper()
	select {
	case <-c.lost:
	case <-time.After(wait):
		tb.Fatalf("client %s was not disconnected", clientID(c))
	}
}

func clientID(c *client) string {
	r := c.OptionsReader()
	return r.ClientID()
}

// sessionIDs lists the client IDs of the live sessions, sorted.
func sessionIDs(b *broker.Broker) []string {
	var ids []string
	for _, s := range b.Sessions() {
		ids = append(ids, s.ClientID)
	}
	slices.Sort(ids)
	return ids
}

// idOf is the store ID (serial and issuer) of a TLS certificate's leaf.
func idOf(tb testing.TB, c tls.Certificate) string {
	tb.Helper()
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		tb.Fatal(err)
	}
	return store.CertID(pki.FormatSerial(leaf.SerialNumber), leaf.RawIssuer)
}
