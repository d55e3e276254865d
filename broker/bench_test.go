package broker_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/broker/policy"
)

// connectFleet opens n mqtts sessions with cfg and returns them with a wait
// group that is done when every one has seen its connection closed.
func connectFleet(tb testing.TB, e *env, cfg *tls.Config, n int, round int) ([]*rawClient, *sync.WaitGroup) {
	tb.Helper()
	clients := make([]*rawClient, n)
	next := make(chan int)
	errs := make(chan error, n)
	var dial sync.WaitGroup
	for range 16 {
		dial.Go(func() {
			for i := range next {
				c, err := dialRaw(e.addr[broker.TransportMQTTS], cfg, 4, fmt.Sprintf("fleet-%d-%d", round, i))
				if err != nil {
					errs <- err
					continue
				}
				clients[i] = c
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	dial.Wait()
	close(errs)
	if err := <-errs; err != nil {
		tb.Fatalf("connect fleet: %v", err)
	}
	closed := new(sync.WaitGroup)
	for _, c := range clients {
		closed.Go(func() { _, _ = io.Copy(io.Discard, c.r) })
	}
	return clients, closed
}

// BenchmarkSuspendDrop times DropSerial on a certificate holding 1,000 live
// sessions, until every client has observed its socket closed.
func BenchmarkSuspendDrop(b *testing.B) {
	const sessions = 1000
	e := newEnv(b, nil)
	cert, serial := e.issue(b, "fleet")
	cfg := e.tlsConfig(&cert)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		clients, closed := connectFleet(b, e, cfg, sessions, i)
		waitFor(b, func() bool { return e.b.SessionCount(serial) == sessions }, wait, "%d sessions", sessions)
		b.StartTimer()
		if n := e.b.DropSerial(serial, "suspended"); n != sessions {
			b.Fatalf("dropped %d, want %d", n, sessions)
		}
		closed.Wait()
		b.StopTimer()
		for _, c := range clients {
			_ = c.Close()
		}
	}
}

// BenchmarkHandshakeConnect measures a full mTLS handshake + CONNECT/CONNACK
// of one certificate, again and again: a reconnect, whose chain comes from
// the Authority's cache after the first.
func BenchmarkHandshakeConnect(b *testing.B) {
	e := newEnv(b, nil)
	cert, _ := e.issue(b, "bench")
	cfg := e.tlsConfig(&cert)
	addr := e.addr[broker.TransportMQTTS]
	for b.Loop() {
		c, err := dialRaw(addr, cfg, 4, "bench")
		if err != nil {
			b.Fatal(err)
		}
		_ = c.Close()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
}

// BenchmarkHandshakeConnectUncached is BenchmarkHandshakeConnect with the
// chain verified every time: before each connect (off the clock) a trust
// change empties the chain cache, as a first connect finds it.
func BenchmarkHandshakeConnectUncached(b *testing.B) {
	e := newEnv(b, nil)
	ca := newPartnerCA(b, "Partner CA")
	if _, err := e.a.Trust(ca.pem(), true, "bench"); err != nil {
		b.Fatal(err)
	}
	cert, _ := e.issue(b, "bench")
	cfg := e.tlsConfig(&cert)
	addr := e.addr[broker.TransportMQTTS]
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if _, err := e.a.SetStrict("Partner CA", i%2 == 0, "bench"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		c, err := dialRaw(addr, cfg, 4, "bench")
		if err != nil {
			b.Fatal(err)
		}
		_ = c.Close()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
}

// BenchmarkHandshakeResume is BenchmarkHandshakeConnect with TLS session
// resumption: the client offers its last session ticket, the broker checks
// the certificate's state and trust and skips the certificate signatures.
func BenchmarkHandshakeResume(b *testing.B) {
	e := newEnv(b, nil)
	cert, _ := e.issue(b, "bench")
	cfg := e.tlsConfig(&cert)
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(1)
	addr := e.addr[broker.TransportMQTTS]
	resumed := 0
	for b.Loop() {
		c, err := dialRaw(addr, cfg, 4, "bench")
		if err != nil {
			b.Fatal(err)
		}
		if c.Conn.(*tls.Conn).ConnectionState().DidResume {
			resumed++
		}
		_ = c.Close()
	}
	if resumed < b.N-1 {
		b.Fatalf("%d of %d connects resumed", resumed, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
}

// BenchmarkPublishQoS0 streams 64-byte QoS 0 publishes over mTLS to one
// subscriber and stops when the broker has processed them all, under the
// starter policy plus a rule for the benchmark's topic: the publish and the
// delivery are both checked.
func BenchmarkPublishQoS0(b *testing.B) {
	e := newEnv(b, withPolicy(compilePolicy(b, policy.Rule{ID: "bench", Effect: policy.Allow, Action: policy.ActionPubSub, Topic: "bench/#", Who: policy.WhoAny})))
	cert, _ := e.issue(b, "bench")
	cfg := e.tlsConfig(&cert)
	addr := e.addr[broker.TransportMQTTS]
	sub, err := dialRaw(addr, cfg, 4, "sub")
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	topic := "bench/qos0"
	body := append([]byte{0, 1, byte(len(topic) >> 8), byte(len(topic))}, topic...)
	if _, err := sub.Write(append(append([]byte{0x82}, remLen(len(body)+1)...), append(body, 0)...)); err != nil {
		b.Fatal(err)
	}
	if typ, _, err := sub.readPacket(); err != nil || typ != 0x90 {
		b.Fatalf("SUBACK: %#x %v", typ, err)
	}
	go func() { _, _ = io.Copy(io.Discard, sub.r) }()

	pub, err := dialRaw(addr, cfg, 4, "pub")
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	pkt := publishPacket(topic, make([]byte, 64))
	w := bufio.NewWriterSize(pub, 32<<10)
	b.SetBytes(64)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := w.Write(pkt); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	waitFor(b, func() bool { return msgsIn(e.b, "pub") >= uint64(b.N) }, wait, "%d publishes processed", b.N)
}

func msgsIn(b *broker.Broker, clientID string) uint64 {
	for _, s := range b.Sessions() {
		if s.ClientID == clientID {
			return s.MsgsIn
		}
	}
	return 0
}
