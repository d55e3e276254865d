package broker_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gatehouse/gatehouse/broker"
)

// MQTT 5 reason codes and packet types the limit tests read on the wire.
const (
	pktSuback            = 0x90
	codeReceiveMaximum   = 0x93
	codePacketTooLarge   = 0x95
	codeMessageRate      = 0x96
	codeQuotaExceeded    = 0x97
	codeV3SubscribeError = 0x80
	propServerKeepAlive  = 0x13
	propReceiveMaximum   = 0x21
	propMaxPacketSize    = 0x27
)

// wsStream is the client side of MQTT over websocket as a byte stream, so
// the raw client speaks to the wss transport too.
type wsStream struct {
	net.Conn
	ws *websocket.Conn
	r  io.Reader
}

func (s *wsStream) Read(b []byte) (int, error) {
	for {
		if s.r == nil {
			_, r, err := s.ws.NextReader()
			if err != nil {
				return 0, err
			}
			s.r = r
		}
		n, err := s.r.Read(b)
		if errors.Is(err, io.EOF) {
			s.r, err = nil, nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}

func (s *wsStream) Write(b []byte) (int, error) {
	return len(b), s.ws.WriteMessage(websocket.BinaryMessage, b)
}

func (s *wsStream) Close() error { return s.ws.Close() }

// open dials transport (mqtts or wss) with cert and returns the raw stream,
// before any MQTT byte.
func (e *env) open(tb testing.TB, transport string, cert *tls.Certificate) *rawClient {
	tb.Helper()
	var conn net.Conn
	if transport == broker.TransportWSS {
		ws := dialWS(tb, e, cert)
		conn = &wsStream{Conn: ws.UnderlyingConn(), ws: ws}
	} else {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: wait}, "tcp", e.addr[transport], e.tlsConfig(cert))
		if err != nil {
			tb.Fatalf("dial %s: %v", transport, err)
		}
		conn = c
	}
	tb.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(wait))
	return &rawClient{Conn: conn, r: bufio.NewReader(conn)}
}

// session opens transport and completes CONNECT, returning the client and the
// CONNACK properties (MQTT 5) by identifier.
func (e *env) session(tb testing.TB, transport string, cert *tls.Certificate, connect []byte) (*rawClient, map[byte]uint32) {
	tb.Helper()
	c := e.open(tb, transport, cert)
	c.level = connect[8]
	if _, err := c.Write(connect); err != nil {
		tb.Fatalf("write CONNECT: %v", err)
	}
	typ, body, err := c.readPacket()
	if err != nil || typ != pktConnack || len(body) < 2 || body[1] != 0 {
		tb.Fatalf("CONNACK: type %#x body %x err %v", typ, body, err)
	}
	if c.level < 5 {
		return c, nil
	}
	return c, connackProps(tb, body[2:])
}

// connackProps decodes the numeric CONNACK properties; others are skipped.
func connackProps(tb testing.TB, b []byte) map[byte]uint32 {
	tb.Helper()
	n, used := varint(b)
	b = b[used : used+n]
	out := map[byte]uint32{}
	for len(b) > 0 {
		id := b[0]
		b = b[1:]
		switch id {
		case 0x24, 0x25, 0x28, 0x29, 0x2A: // byte
			out[id], b = uint32(b[0]), b[1:]
		case 0x13, 0x21, 0x22: // two-byte integer
			out[id], b = uint32(b[0])<<8|uint32(b[1]), b[2:]
		case 0x11, 0x27: // four-byte integer
			out[id], b = uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3]), b[4:]
		case 0x12, 0x1A, 0x1C, 0x1F, 0x15, 0x16: // string or binary
			l := int(b[0])<<8 | int(b[1])
			b = b[2+l:]
		case 0x26: // string pair
			for range 2 {
				l := int(b[0])<<8 | int(b[1])
				b = b[2+l:]
			}
		default:
			tb.Fatalf("unexpected CONNACK property %#x", id)
		}
	}
	return out
}

func varint(b []byte) (int, int) {
	n, shift := 0, 0
	for i, c := range b {
		n |= int(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			return n, i + 1
		}
	}
	return n, len(b)
}

// publish5 encodes an MQTT 5 PUBLISH; qos > 0 uses packet id id.
func publish5(topic string, qos byte, id uint16, payload []byte) []byte {
	body := []byte{byte(len(topic) >> 8), byte(len(topic))}
	body = append(body, topic...)
	if qos > 0 {
		body = append(body, byte(id>>8), byte(id))
	}
	body = append(body, 0) // no properties
	body = append(body, payload...)
	return append(append([]byte{pktPublish | qos<<1}, remLen(len(body))...), body...)
}

// subscribeMany encodes a SUBSCRIBE (packet id 7, QoS 1) to filters for
// protocol level 4 or 5.
func subscribeMany(level byte, filters ...string) []byte {
	body := []byte{0, 7}
	if level == 5 {
		body = append(body, 0)
	}
	for _, f := range filters {
		body = append(body, byte(len(f)>>8), byte(len(f)))
		body = append(body, f...)
		body = append(body, 1)
	}
	return append(append([]byte{0x82}, remLen(len(body))...), body...)
}

// suback reads the next SUBACK and returns its reason codes.
func (c *rawClient) suback(tb testing.TB) []byte {
	tb.Helper()
	typ, body, err := c.readPacket()
	if err != nil || typ != pktSuback {
		tb.Fatalf("SUBACK: type %#x err %v", typ, err)
	}
	body = body[2:]
	if c.level == 5 {
		n, used := varint(body)
		body = body[used+n:]
	}
	return body
}

// healthy proves the broker still serves: a fresh paho client subscribes and
// receives its own publish.
func healthy(tb testing.TB, e *env) {
	tb.Helper()
	cert, _ := e.issue(tb, "healthy")
	c := e.mustConnect(tb, broker.TransportMQTTS, &cert, fmt.Sprintf("healthy-%d", time.Now().UnixNano()))
	if tok := c.Subscribe("health/check", 1, nil); !tok.WaitTimeout(wait) || tok.Error() != nil {
		tb.Fatalf("healthy: subscribe: %v", tok.Error())
	}
	if tok := c.Publish("health/check", 1, false, "ok"); !tok.WaitTimeout(wait) || tok.Error() != nil {
		tb.Fatalf("healthy: publish: %v", tok.Error())
	}
	select {
	case m := <-c.msgs:
		if string(m.Payload()) != "ok" {
			tb.Fatalf("healthy: got %q", m.Payload())
		}
	case <-time.After(wait):
		tb.Fatal("healthy: own publish not received")
	}
	c.Disconnect(0)
}

// totalAlloc is the bytes allocated by the process so far.
func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// claim200MB is a PUBLISH (or CONNECT) fixed header claiming a 200 MB body.
func claim200MB(typ byte) []byte { return append([]byte{typ}, remLen(200_000_000)...) }

// TestPacketTooLarge sends only fixed headers claiming 200 MB or one byte
// over the limit, and garbage, on mqtts and wss: the broker closes at once
// without waiting for the body or allocating it (MQTT 5 sessions hear
// DISCONNECT 0x95), names the cause, and keeps serving others; a packet of
// exactly the limit passes.
func TestPacketTooLarge(t *testing.T) {
	e := newEnv(t, func(c *broker.Config) { c.Limits.MaxPacketSize = 4096 })
	cert, serial := e.issue(t, "big")
	cases := []struct {
		name      string
		connect   []byte // nil: the oversized packet comes before CONNECT
		send      []byte
		reason    int    // DISCONNECT reason code expected, -1 none
		eventType string // the event naming the cause
	}{
		{"v5 session", connectPacket(5, "big5"), claim200MB(pktPublish), codePacketTooLarge, broker.EventDisconnected},
		{"v3 session", connectPacket(4, "big4"), claim200MB(pktPublish), -1, broker.EventDisconnected},
		{"one byte over the limit", connectPacket(5, "big-edge"), append([]byte{pktPublish}, remLen(4094)...), codePacketTooLarge, broker.EventDisconnected},
		{"before CONNECT", nil, claim200MB(pktConnect), -1, broker.EventRefused},
	}
	for _, transport := range []string{broker.TransportMQTTS, broker.TransportWSS} {
		t.Run(transport+"/at the limit", func(t *testing.T) {
			c, _ := e.session(t, transport, &cert, connectPacket(5, "big-fits"))
			pkt := publish5("t", 0, 0, make([]byte, 4089))
			if len(pkt) != 4096 {
				t.Fatalf("test packet is %d bytes, want 4096", len(pkt))
			}
			if _, err := c.Write(append(pkt, 0xC0, 0)); err != nil { // and PINGREQ
				t.Fatal(err)
			}
			if typ, _, err := c.readPacket(); err != nil || typ != 0xD0 {
				t.Fatalf("PINGRESP after a packet at the limit: type %#x, %v", typ, err)
			}
		})
		for _, tc := range cases {
			t.Run(transport+"/"+tc.name, func(t *testing.T) {
				before := len(e.ev.match(func(ev broker.Event) bool {
					return ev.Type == tc.eventType && ev.Reason == broker.ReasonPacketTooLarge
				}))
				var c *rawClient
				if tc.connect != nil {
					c, _ = e.session(t, transport, &cert, tc.connect)
				} else {
					c = e.open(t, transport, &cert)
				}
				alloc := totalAlloc()
				if _, err := c.Write(tc.send); err != nil {
					t.Fatalf("write: %v", err)
				}
				reason, err := c.waitClosed()
				if err != nil {
					t.Fatalf("broker waited for the body: %v", err)
				}
				if reason != tc.reason {
					t.Fatalf("DISCONNECT reason %#x, want %#x", reason, tc.reason)
				}
				if grew := totalAlloc() - alloc; grew > 50<<20 {
					t.Fatalf("allocated %d MB for a claimed 200 MB packet", grew>>20)
				}
				evs := e.ev.wait(t, before+1, tc.eventType, broker.ReasonPacketTooLarge, serial)
				if ev := evs[len(evs)-1]; ev.Transport != transport {
					t.Fatalf("event transport %q, want %q", ev.Transport, transport)
				}
			})
		}
		t.Run(transport+"/garbage", func(t *testing.T) {
			c, _ := e.session(t, transport, &cert, connectPacket(5, "garbage"))
			if _, err := c.Write([]byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x02}); err != nil {
				t.Fatalf("write: %v", err)
			}
			if _, err := c.waitClosed(); err != nil {
				t.Fatal(err)
			}
		})
	}
	healthy(t, e)
}

// TestConnackAnnouncesLimits checks Maximum Packet Size, Receive Maximum and
// the Server Keep Alive cap in MQTT 5 CONNACKs.
func TestConnackAnnouncesLimits(t *testing.T) {
	e := newEnv(t, func(c *broker.Config) {
		c.Limits.MaxPacketSize, c.Limits.MaxInflight, c.Limits.MaxKeepalive = 8192, 10, 120
	})
	cert, _ := e.issue(t, "caps")
	for _, tc := range []struct {
		name      string
		keepalive uint16
		server    uint32 // Server Keep Alive expected; 0 = absent
	}{
		{"asks less than the cap", 30, 0},
		{"asks more than the cap", 1000, 120},
		{"asks for none", 0, 120},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, props := e.session(t, broker.TransportMQTTS, &cert, connectPacketWith(5, "caps-"+tc.name[:4], true, tc.keepalive))
			if props[propMaxPacketSize] != 8192 || props[propReceiveMaximum] != 10 {
				t.Fatalf("CONNACK properties %v: want maximum packet size 8192, receive maximum 10", props)
			}
			if got, ok := props[propServerKeepAlive]; got != tc.server || ok != (tc.server != 0) {
				t.Fatalf("Server Keep Alive %d (present %v), want %d", got, ok, tc.server)
			}
		})
	}
}

// TestKeepaliveCapAppliesToV3 connects an MQTT 3.1.1 client asking for no
// keepalive under a 1 s cap: the broker times it out after 1.5 s of silence.
func TestKeepaliveCapAppliesToV3(t *testing.T) {
	e := newEnv(t, func(c *broker.Config) { c.Limits.MaxKeepalive = 1 })
	cert, serial := e.issue(t, "quiet")
	c, _ := e.session(t, broker.TransportMQTTS, &cert, connectPacketWith(4, "quiet", true, 0))
	start := time.Now()
	if _, err := c.waitClosed(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 800*time.Millisecond || d > 5*time.Second {
		t.Fatalf("closed after %s, want about 1.5s", d)
	}
	e.ev.wait(t, 1, broker.EventDisconnected, broker.CauseKeepalive, serial)
}

// TestReceiveMaximum sends more unacknowledged QoS 2 publishes than the
// Receive Maximum: DISCONNECT 0x93.
func TestReceiveMaximum(t *testing.T) {
	e := newEnv(t, func(c *broker.Config) { c.Limits.MaxInflight = 2 })
	cert, serial := e.issue(t, "flood")
	c, _ := e.session(t, broker.TransportMQTTS, &cert, connectPacket(5, "flood"))
	for id := range uint16(3) {
		if _, err := c.Write(publish5("flood/x", 2, id+1, []byte("x"))); err != nil {
			t.Fatal(err)
		}
	}
	reason, err := c.waitClosed()
	if err != nil || reason != codeReceiveMaximum {
		t.Fatalf("DISCONNECT %#x (%v), want %#x", reason, err, codeReceiveMaximum)
	}
	e.ev.wait(t, 1, broker.EventDisconnected, broker.ReasonReceiveMaximum, serial)
	healthy(t, e)
}

// TestOutboundInflightCap gives a subscriber that never acknowledges more
// QoS 1 messages than MaxInflight: it is sent only MaxInflight of them.
func TestOutboundInflightCap(t *testing.T) {
	e := newEnv(t, func(c *broker.Config) { c.Limits.MaxInflight = 2 })
	cert, _ := e.issue(t, "slowack")
	sub, _ := e.session(t, broker.TransportMQTTS, &cert, connectPacket(5, "slowack"))
	if _, err := sub.Write(subscribeMany(5, "ack/#")); err != nil {
		t.Fatal(err)
	}
	sub.suback(t)
	pub := e.mustConnect(t, broker.TransportMQTTS, &cert, "acker")
	for i := range 5 {
		if tok := pub.Publish("ack/x", 1, false, fmt.Sprint(i)); !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	got := 0
	_ = sub.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	for {
		typ, _, err := sub.readPacket()
		if err != nil {
			break
		}
		if typ == pktPublish {
			got++
		}
	}
	if got != 2 {
		t.Fatalf("subscriber was sent %d unacknowledged messages, want 2", got)
	}
}

// TestSlowReaderQueueOverflow fills the queue of a subscriber that does not
// read: every dropped message is counted on its session and in the totals,
// and reported in dropped events, at most one a second while the drops go
// on, whose counts add up to the session's total when it has ended.
func TestSlowReaderQueueOverflow(t *testing.T) {
	e := newEnv(t, func(c *broker.Config) { c.Limits.MaxQueued = 4 })
	cert, _ := e.issue(t, "slow")
	sub, _ := e.session(t, broker.TransportMQTTS, &cert, connectPacket(4, "slow"))
	if _, err := sub.Write(subscribeMany(4, "slow/#")); err != nil {
		t.Fatal(err)
	}
	sub.suback(t) // and never read again
	pub, _ := e.session(t, broker.TransportMQTTS, &cert, connectPacket(4, "fast"))
	msg := publishPacket("slow/x", make([]byte, 32<<10))
	session := func(id string) (broker.Session, bool) {
		for _, s := range e.b.Sessions() {
			if s.ClientID == id {
				return s, true
			}
		}
		return broker.Session{}, false
	}
	dropped := func() uint64 { s, _ := session("slow"); return s.DroppedOut }
	start := time.Now()
	for i := 0; dropped() < 50; i++ {
		if i == 8000 { // 256 MB: far beyond any socket buffer
			t.Fatalf("only %d messages were dropped for the stalled subscriber", dropped())
		}
		if _, err := pub.Write(msg); err != nil {
			t.Fatal(err)
		}
	}
	first := e.ev.wait(t, 1, broker.EventDropped, "", "")[0]
	if first.ClientID != "slow" || first.Count == 0 || !strings.HasPrefix(first.Reason, broker.ReasonQueueFull+": ") {
		t.Fatalf("first dropped event %+v, want slow's with a count", first)
	}

	_ = pub.Close() // every publish it sent is processed once its session has ended
	waitFor(t, func() bool { _, ok := session("fast"); return !ok }, wait, "the publisher's session to end")
	total := dropped()
	if got := e.b.Stats().Dropped; got != int64(total) {
		t.Fatalf("Stats().Dropped = %d, the session dropped %d", got, total)
	}
	reported := func() (uint64, []broker.Event) {
		evs := e.ev.match(func(ev broker.Event) bool { return ev.Type == broker.EventDropped })
		var sum uint64
		for _, ev := range evs {
			if ev.ClientID != "slow" || ev.Serial == "" {
				t.Fatalf("dropped event %+v, want slow's", ev)
			}
			sum += ev.Count
		}
		return sum, evs
	}
	// The drops after the first event are reported a second later while
	// the session lives on, and not again when it ends.
	waitFor(t, func() bool { n, _ := reported(); return n == total }, wait, "the dropped events to report %d drops", total)
	_ = sub.Close()
	waitFor(t, func() bool { _, ok := session("slow"); return !ok }, wait, "the subscriber's session to end")
	sum, evs := reported()
	if sum != total {
		t.Fatalf("dropped events count %d messages over %d events, the session dropped %d", sum, len(evs), total)
	}
	if most := 2 + int(time.Since(start)/time.Second); len(evs) > most {
		t.Fatalf("%d dropped events for %d drops in %s: not rate limited", len(evs), total, time.Since(start))
	}
	healthy(t, e)
}

// TestPublishRate exceeds the message and byte rates (DISCONNECT 0x96) and
// stays within them.
func TestPublishRate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits broker.Limits
		count  int
		size   int
		cut    bool
	}{
		// Exactly one publish past the burst: nothing is left unread when the
		// broker closes, so the DISCONNECT is not lost to a TCP reset.
		{"messages over the rate", broker.Limits{MaxMsgRate: 5}, 6, 10, true},
		{"bytes over the rate", broker.Limits{MaxByteRate: 1000, MaxPacketSize: 1024}, 3, 500, true},
		{"within both", broker.Limits{MaxMsgRate: 100, MaxByteRate: 1 << 20}, 20, 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *broker.Config) { c.Limits = tc.limits })
			cert, serial := e.issue(t, "rate")
			c, _ := e.session(t, broker.TransportMQTTS, &cert, connectPacket(5, "rate"))
			for range tc.count {
				if _, err := c.Write(publish5("rate/x", 0, 0, make([]byte, tc.size))); err != nil {
					t.Fatal(err)
				}
			}
			if !tc.cut {
				waitFor(t, func() bool { return msgsIn(e.b, "rate") == uint64(tc.count) }, wait, "%d publishes", tc.count)
				return
			}
			reason, err := c.waitClosed()
			if err != nil || reason != codeMessageRate {
				t.Fatalf("DISCONNECT %#x (%v), want %#x", reason, err, codeMessageRate)
			}
			e.ev.wait(t, 1, broker.EventDisconnected, broker.ReasonRateLimit, serial)
			healthy(t, e)
		})
	}
}

// TestSubscriptionCap refuses the filters past MaxSubscriptions with 0x97
// (MQTT 5) or 0x80 (3.1.1); filters held already still succeed.
func TestSubscriptionCap(t *testing.T) {
	e := newEnv(t, func(c *broker.Config) { c.Limits.MaxSubscriptions = 2 })
	cert, _ := e.issue(t, "subs")
	for _, tc := range []struct {
		name    string
		level   byte
		refused byte
	}{
		{"v5", 5, codeQuotaExceeded},
		{"v3", 4, codeV3SubscribeError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := e.session(t, broker.TransportMQTTS, &cert, connectPacket(tc.level, "subs-"+tc.name))
			if _, err := c.Write(subscribeMany(tc.level, "a/1", "a/2", "a/3")); err != nil {
				t.Fatal(err)
			}
			if got := c.suback(t); string(got) != string([]byte{1, 1, tc.refused}) {
				t.Fatalf("SUBACK codes %x, want 01 01 %02x", got, tc.refused)
			}
			if _, err := c.Write(subscribeMany(tc.level, "a/1", "a/4")); err != nil {
				t.Fatal(err)
			}
			if got := c.suback(t); string(got) != string([]byte{1, tc.refused}) {
				t.Fatalf("second SUBACK codes %x, want 01 %02x", got, tc.refused)
			}
			evs := e.ev.wait(t, 1, broker.EventRefused, broker.ReasonTooManySubs, "")
			if !strings.HasPrefix(evs[len(evs)-1].ClientID, "subs-") {
				t.Fatalf("event %+v", evs[len(evs)-1])
			}
		})
	}
	healthy(t, e)
}

// TestConnectionCaps refuses connections past the total and per-IP caps at
// accept, before any TLS byte, and admits again once one closes.
func TestConnectionCaps(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits broker.Limits
		reason string
		other  bool // a second source address still gets in
	}{
		{"total", broker.Limits{MaxConns: 2}, broker.ReasonTooManyConns, false},
		{"per IP", broker.Limits{MaxConnsPerIP: 2}, "too many connections from 127.0.0.1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *broker.Config) { c.Limits = tc.limits })
			addr := e.addr[broker.TransportMQTTS]
			dial := func(from string) net.Conn {
				d := net.Dialer{Timeout: wait, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
				c, err := d.Dial("tcp", addr)
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				t.Cleanup(func() { _ = c.Close() })
				return c
			}
			open := []net.Conn{dial("127.0.0.1"), dial("127.0.0.1")}
			over := dial("127.0.0.1")
			_ = over.SetReadDeadline(time.Now().Add(wait))
			if _, err := over.Read(make([]byte, 1)); err == nil || isTimeout(err) {
				t.Fatalf("connection past the cap was not closed: %v", err)
			}
			e.ev.wait(t, 1, broker.EventRefused, tc.reason, "")
			if tc.other {
				c := dial("127.0.0.2")
				_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				if _, err := c.Read(make([]byte, 1)); !isTimeout(err) {
					t.Fatalf("another address was refused: %v", err)
				}
			}
			_ = open[0].Close()
			cert, _ := e.issue(t, "after")
			waitFor(t, func() bool {
				c, err := dialRaw(addr, e.tlsConfig(&cert), 4, "after")
				if err == nil {
					_ = c.Close()
				}
				return err == nil
			}, wait, "a connection once one closed")
		})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestRetainedCaps keeps retained messages past the count or byte cap from
// being retained (they are still delivered), counts them on the publisher's
// session, and lets replacing and deleting work at the cap.
func TestRetainedCaps(t *testing.T) {
	type step struct {
		topic, payload string
	}
	for _, tc := range []struct {
		name   string
		limits broker.Limits
		steps  []step
		kept   map[string]string // what a new subscriber receives
		refuse uint64
	}{
		{"count", broker.Limits{MaxRetained: 2},
			[]step{{"r/1", "a"}, {"r/2", "b"}, {"r/3", "c"}, {"r/1", "A"}},
			map[string]string{"r/1": "A", "r/2": "b"}, 1},
		{"bytes", broker.Limits{MaxRetainedBytes: 100},
			[]step{{"r/1", strings.Repeat("a", 60)}, {"r/2", strings.Repeat("b", 60)}, {"r/1", ""}, {"r/3", strings.Repeat("c", 60)}},
			map[string]string{"r/3": strings.Repeat("c", 60)}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *broker.Config) { c.Limits = tc.limits })
			cert, _ := e.issue(t, "retain")
			live := e.mustConnect(t, broker.TransportMQTTS, &cert, "live")
			if tok := live.Subscribe("r/#", 1, nil); !tok.WaitTimeout(wait) || tok.Error() != nil {
				t.Fatal(tok.Error())
			}
			pub := e.mustConnect(t, broker.TransportMQTTS, &cert, "retainer")
			for _, s := range tc.steps {
				if tok := pub.Publish(s.topic, 1, true, s.payload); !tok.WaitTimeout(wait) || tok.Error() != nil {
					t.Fatal(tok.Error())
				}
			}
			for range tc.steps { // every message is delivered live
				select {
				case <-live.msgs:
				case <-time.After(wait):
					t.Fatal("a retained message was not delivered live")
				}
			}
			late := e.mustConnect(t, broker.TransportMQTTS, &cert, "late")
			if tok := late.Subscribe("r/#", 1, nil); !tok.WaitTimeout(wait) || tok.Error() != nil {
				t.Fatal(tok.Error())
			}
			got := map[string]string{}
			for len(got) < len(tc.kept) {
				select {
				case m := <-late.msgs:
					got[m.Topic()] = string(m.Payload())
				case <-time.After(wait):
					t.Fatalf("retained %v, want %v", got, tc.kept)
				}
			}
			select {
			case m := <-late.msgs:
				t.Fatalf("retained more than %v: %s", tc.kept, m.Topic())
			case <-time.After(200 * time.Millisecond):
			}
			for k, v := range tc.kept {
				if got[k] != v {
					t.Fatalf("retained %v, want %v", got, tc.kept)
				}
			}
			for _, s := range e.b.Sessions() {
				if s.ClientID == "retainer" && s.RetainedRefused != tc.refuse {
					t.Fatalf("retained_refused %d, want %d", s.RetainedRefused, tc.refuse)
				}
			}
			e.ev.wait(t, 1, broker.EventRefused, broker.ReasonRetainedFull, "")
		})
	}
}

// TestLimitsValidate refuses limits out of range with the limit's name.
func TestLimitsValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits broker.Limits
		want   string
	}{
		{"defaults", broker.DefaultLimits(), ""},
		{"zero", broker.Limits{}, ""},
		{"tiny packets", broker.Limits{MaxPacketSize: 10}, "max packet size 10: want at least 128 bytes"},
		{"negative rate", broker.Limits{MaxMsgRate: -1}, "max message rate -1"},
		{"inflight past MQTT", broker.Limits{MaxInflight: 70000}, "max inflight 70000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.limits.Validate()
			if (err == nil) != (tc.want == "") || (err != nil && !strings.HasPrefix(err.Error(), tc.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

// SetLimits changes the limits of a running broker: a subscription cap set
// live applies to the next SUBSCRIBE; limits fixed at start stay and are
// named; a bad value is refused and changes nothing.
func TestSetLimitsLive(t *testing.T) {
	e := newEnv(t, nil)
	cert, _ := e.issue(t, "live")
	c, _ := e.session(t, broker.TransportMQTTS, &cert, connectPacket(5, "live-1"))
	if _, err := c.Write(subscribeMany(5, "a/1", "a/2")); err != nil {
		t.Fatal(err)
	}
	if got := c.suback(t); string(got) != string([]byte{1, 1}) {
		t.Fatalf("SUBACK codes %x before the change, want 01 01", got)
	}
	l := broker.DefaultLimits()
	l.MaxSubscriptions = 2
	l.MaxQueued = broker.DefaultMaxQueued + 1
	restart, err := e.b.SetLimits(l)
	if err != nil {
		t.Fatal(err)
	}
	if len(restart) != 1 || restart[0] != "max-queued" {
		t.Errorf("restart needed for %v, want [max-queued]", restart)
	}
	if _, err := c.Write(subscribeMany(5, "a/3")); err != nil {
		t.Fatal(err)
	}
	if got := c.suback(t); string(got) != string([]byte{codeQuotaExceeded}) {
		t.Fatalf("SUBACK codes %x after the cap was set live, want %02x", got, codeQuotaExceeded)
	}
	l.MaxSubscriptions = -1
	if _, err := e.b.SetLimits(l); err == nil {
		t.Error("a negative limit was accepted")
	}
	healthy(t, e)
}
