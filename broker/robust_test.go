package broker_test

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// sendRaw writes b to addr and reads until the broker closes the connection.
func sendRaw(tb testing.TB, addr string, b []byte) {
	tb.Helper()
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	if len(b) > 0 {
		if _, err := c.Write(b); err != nil {
			tb.Fatalf("write: %v", err)
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	if _, err := io.Copy(io.Discard, c); err != nil && !isReset(err) {
		tb.Fatalf("broker did not close the connection: %v", err)
	}
}

func isReset(err error) bool {
	ne, ok := err.(net.Error)
	return !ok || !ne.Timeout()
}

func TestPlaintextOnTLSPort(t *testing.T) {
	e := newEnv(t, nil)
	tests := map[string]struct {
		bytes  []byte
		reason string
	}{
		"fail/plaintext CONNECT": {connectPacket(4, "oops"), broker.ReasonPlaintextMQTT},
		"fail/HTTP request":      {[]byte("GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n"), broker.ReasonNotTLS},
		"fail/garbage":           {[]byte{0x00, 0xff, 0x13, 0x37}, broker.ReasonNotTLS},
	}
	for name, tt := range tests {
		for _, tr := range []string{broker.TransportMQTTS, broker.TransportWSS} {
			t.Run(name+"/"+tr, func(t *testing.T) {
				sendRaw(t, e.addr[tr], tt.bytes)
				e.waitHandshakeRefusal(t, tt.reason, tr)
			})
		}
	}
}

func TestHandshakeTimeout(t *testing.T) {
	e := newEnv(t, func(c *broker.Config) { c.HandshakeTimeout = 200 * time.Millisecond })
	for name, b := range map[string][]byte{
		"silent":          nil,
		"stalled":         {0x16, 0x03, 0x01},
		"tls, no CONNECT": nil,
	} {
		t.Run(name, func(t *testing.T) {
			if name == "tls, no CONNECT" {
				cert, _ := e.issue(t, "idle")
				c, err := tls.Dial("tcp", e.addr[broker.TransportMQTTS], e.tlsConfig(&cert))
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_ = c.SetReadDeadline(time.Now().Add(wait))
				if _, err := io.Copy(io.Discard, c); err != nil && !isReset(err) {
					t.Fatalf("connection without CONNECT stayed open: %v", err)
				}
				return
			}
			sendRaw(t, e.addr[broker.TransportMQTTS], b)
			e.waitHandshakeRefusal(t, broker.ReasonHandshakeTimeout, broker.TransportMQTTS)
		})
	}
}

func TestGarbageNeverCrashes(t *testing.T) {
	e := newEnv(t, func(c *broker.Config) { c.HandshakeTimeout = 500 * time.Millisecond })
	cert, _ := e.issue(t, "fuzz")
	noise := make([]byte, 4096)
	if _, err := rand.Read(noise); err != nil {
		t.Fatal(err)
	}
	payloads := [][]byte{
		nil,
		noise,
		append([]byte{0x16, 0x03, 0x01, 0xff, 0xff}, noise...),
		{0x16},
		{0x10, 0xff, 0xff, 0xff, 0xff, 0x7f},
		[]byte("GET / HTTP/1.1\r\n\r\n"),
	}
	for _, addr := range e.addr {
		for _, p := range payloads {
			sendRaw(t, addr, p)
		}
	}
	// Garbage after a verified handshake: a malformed MQTT stream (after
	// CONNECT, a PUBLISH with QoS 3)...
	for _, p := range [][]byte{noise, {0x10, 0xff, 0xff, 0xff, 0xff, 0x7f}, append(connectPacket(4, "g"), 0x36, 0x00)} {
		c, err := tls.Dial("tcp", e.addr[broker.TransportMQTTS], e.tlsConfig(&cert))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write(p)
		_ = c.SetReadDeadline(time.Now().Add(wait))
		if _, err := io.Copy(io.Discard, c); err != nil && !isReset(err) {
			t.Fatalf("malformed stream left open: %v", err)
		}
		_ = c.Close()
	}
	// ...and bad HTTP and websocket traffic on the WSS port.
	for _, req := range []string{"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", "GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n", string(noise)} {
		c, err := tls.Dial("tcp", e.addr[broker.TransportWSS], e.tlsConfig(&cert))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte(req))
		_ = c.Close()
	}
	ws := dialWS(t, e, &cert)
	_ = ws.WriteMessage(websocket.TextMessage, []byte("not mqtt"))
	_ = ws.Close()

	good := e.mustConnect(t, broker.TransportMQTTS, &cert, "still-alive")
	if tok := good.Publish("alive", 0, false, "yes"); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("broker unusable after garbage: %v", tok.Error())
	}
}

// dialWS opens a websocket on the WSS transport, without MQTT.
func dialWS(tb testing.TB, e *env, cert *tls.Certificate) *websocket.Conn {
	tb.Helper()
	d := websocket.Dialer{TLSClientConfig: e.tlsConfig(cert), Subprotocols: []string{"mqtt"}, HandshakeTimeout: wait}
	ws, _, err := d.Dial("wss://"+e.addr[broker.TransportWSS]+"/mqtt", nil)
	if err != nil {
		tb.Fatalf("websocket dial: %v", err)
	}
	return ws
}

// wsCycle connects over WSS, drops or closes, and waits for the end.
func wsCycle(tb testing.TB, e *env, cert *tls.Certificate, serial string, drop bool) {
	tb.Helper()
	ws := dialWS(tb, e, cert)
	defer ws.Close()
	if err := ws.WriteMessage(websocket.BinaryMessage, connectPacket(4, "ws-cycle")); err != nil {
		tb.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(wait))
	if _, msg, err := ws.ReadMessage(); err != nil || len(msg) < 4 || msg[0] != pktConnack || msg[3] != 0 {
		tb.Fatalf("CONNACK over websocket: %x %v", msg, err)
	}
	if !drop {
		return
	}
	if n := e.b.DropSerial(serial, "cycle"); n != 1 {
		tb.Fatalf("dropped %d", n)
	}
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			return
		}
	}
}

// tlsCycle connects over mqtts, drops or disconnects, and waits for the end.
func tlsCycle(tb testing.TB, e *env, cfg *tls.Config, serial string, drop bool) {
	tb.Helper()
	c, err := dialRaw(e.addr[broker.TransportMQTTS], cfg, 4, "tls-cycle")
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	if drop {
		if n := e.b.DropSerial(serial, "cycle"); n != 1 {
			tb.Fatalf("dropped %d", n)
		}
	} else if _, err := c.Write([]byte{pktDisconnect, 0}); err != nil {
		tb.Fatal(err)
	}
	if _, err := c.waitClosed(); err != nil {
		tb.Fatal(err)
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	e := newEnv(t, nil)
	cert, serial := e.issue(t, "cycler")
	cfg := e.tlsConfig(&cert)
	cycles := 1000
	if testing.Short() {
		cycles = 100
	}
	cycle := func(i int) {
		if i%4 == 3 {
			wsCycle(t, e, &cert, serial, i%8 == 7)
		} else {
			tlsCycle(t, e, cfg, serial, i%2 == 0)
		}
		waitFor(t, func() bool { return e.b.SessionCount(serial) == 0 }, wait, "session %d to end", i)
	}
	for i := range 8 { // warm up lazily started goroutines
		cycle(i)
	}
	settled := func(limit int) func() bool {
		return func() bool { runtime.GC(); return runtime.NumGoroutine() <= limit }
	}
	base := runtime.NumGoroutine()
	waitFor(t, settled(base), wait, "goroutines to settle at %d", base)
	base = runtime.NumGoroutine()
	for i := range cycles {
		cycle(i)
	}
	waitFor(t, settled(base), wait, "goroutines back to %d after %d cycles (now %d)", base, cycles, runtime.NumGoroutine())
	if s := e.b.Sessions(); len(s) != 0 {
		t.Fatalf("sessions left: %v", s)
	}
	t.Logf("%d cycles, %d goroutines", cycles, runtime.NumGoroutine())
}

// A client that stops reading must not hold a suspend: the DISCONNECT write
// would block forever, so the connection is closed after a grace period.
func TestStalledClientCannotHoldADrop(t *testing.T) {
	e := newEnv(t, nil)
	cert, serial := e.issue(t, "stall")
	c, payload := stalledClient(t, e, cert)
	e.transition(t, serial, store.StateSuspended)
	done := make(chan int, 1)
	go func() { done <- e.b.DropSerial(serial, pki.ReasonSuspended) }()
	select {
	case n := <-done:
		if n != 1 {
			t.Fatalf("dropped %d sessions, want 1", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("DropSerial blocked on a client that does not read")
	}
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	var werr error
	for range 100 {
		if _, werr = c.Write(publishPacket("loop", payload)); werr != nil {
			break
		}
	}
	if werr == nil {
		t.Fatal("the stalled client's connection is still open after the drop")
	}
}

// Browsers may open MQTT over WebSocket only from the broker's own origin or
// an allowed one: a foreign page must not use a client certificate the
// browser holds (cross-site WebSocket hijacking).
func TestWebSocketOrigins(t *testing.T) {
	e := newEnv(t, func(c *broker.Config) { c.WSSOrigins = []string{"https://dash.example.com"} })
	cert, _ := e.issue(t, "browser")
	addr := e.addr[broker.TransportWSS]
	tests := map[string]struct {
		origin string
		ok     bool
	}{
		"ok/device without origin": {"", true},
		"ok/allowed origin":        {"https://DASH.example.com", true},
		"ok/same origin":           {"https://" + addr, true},
		"fail/foreign origin":      {"https://evil.example", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			d := websocket.Dialer{TLSClientConfig: e.tlsConfig(&cert), Subprotocols: []string{"mqtt"}, HandshakeTimeout: wait}
			ws, resp, err := d.Dial("wss://"+addr+"/mqtt", h)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				ws.Close()
				return
			}
			if err == nil {
				ws.Close()
				t.Fatal("a foreign origin opened a websocket")
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("want 403, got %v", err)
			}
			e.ev.wait(t, 1, broker.EventRefused, broker.ReasonOrigin+": "+tc.origin, "")
		})
	}
}

// stalledClient connects "stall" with cert over mqtts, subscribes to its own
// topic, then stops reading while it publishes large messages that come
// back to it, until the socket buffers are full. It returns the connection
// (closed when the test ends) and the payload it sent.
func stalledClient(t *testing.T, e *env, cert tls.Certificate) (*rawClient, []byte) {
	t.Helper()
	c, err := dialRawWith(e.addr[broker.TransportMQTTS], e.tlsConfig(&cert), connectPacketWith(4, "stall", true, 0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(subscribePacket("loop")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.readPacket(); err != nil { // SUBACK; from now on it never reads
		t.Fatal(err)
	}
	payload := bytes.Repeat([]byte("x"), 60000)
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	for range 400 { // about 24 MB echoed back, unread
		if _, err := c.Write(publishPacket("loop", payload)); err != nil {
			break
		}
	}
	return c, payload
}
