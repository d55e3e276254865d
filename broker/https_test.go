package broker_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/broker/policy"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
	"github.com/gatehouse/gatehouse/store"
)

// withHTTPS adds the HTTPS transport on loopback, then applies mutate.
func withHTTPS(mutate func(*broker.Config)) func(*broker.Config) {
	return func(c *broker.Config) {
		c.HTTPSAddr = "127.0.0.1:0"
		if mutate != nil {
			mutate(c)
		}
	}
}

// httpsClient is a net/http client of the HTTPS API presenting cert (none
// when nil); each client has its own connections.
func (e *env) httpsClient(tb testing.TB, cert *tls.Certificate) *http.Client {
	tb.Helper()
	tr := &http.Transport{TLSClientConfig: e.tlsConfig(cert), ForceAttemptHTTP2: false}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: wait}
}

func (e *env) httpsURL(path string) string { return "https://" + e.addr[broker.TransportHTTPS] + path }

// answer is a decoded HTTPS API answer.
type answer struct {
	status int
	body   map[string]any
}

// post publishes body to path (topic and query) and decodes the answer.
func (e *env) post(tb testing.TB, c *http.Client, path, body string) answer {
	tb.Helper()
	res, err := c.Post(e.httpsURL("/v1/publish/"+path), "application/octet-stream", strings.NewReader(body))
	if err != nil {
		tb.Fatalf("post %s: %v", path, err)
	}
	return decodeAnswer(tb, res)
}

func decodeAnswer(tb testing.TB, res *http.Response) answer {
	tb.Helper()
	defer res.Body.Close()
	a := answer{status: res.StatusCode}
	if err := json.NewDecoder(res.Body).Decode(&a.body); err != nil {
		tb.Fatalf("decode %d answer: %v", res.StatusCode, err)
	}
	return a
}

// sse is an open event stream.
type sse struct {
	res    *http.Response
	events chan sseEvent // closed when the stream ends
}

type sseEvent struct {
	name string
	data map[string]any
}

// subscribeSSE opens GET /v1/subscribe/filter and waits for its
// "subscribed" event; a refusal is returned as the answer instead.
func (e *env) subscribeSSE(tb testing.TB, c *http.Client, filter string) (*sse, answer) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.httpsURL("/v1/subscribe/"+filter), nil)
	sc := *c
	sc.Timeout = 0 // a stream lives longer than a request
	res, err := sc.Do(req)
	if err != nil {
		tb.Fatalf("subscribe %s: %v", filter, err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, decodeAnswer(tb, res)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		tb.Fatalf("content type %q", ct)
	}
	s := &sse{res: res, events: make(chan sseEvent, 64)}
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(res.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data)
			case line == "" && ev.name != "":
				s.events <- ev
				ev = sseEvent{}
			}
		}
	}()
	tb.Cleanup(func() { res.Body.Close() })
	if ev := s.next(tb); ev.name != "subscribed" || ev.data["filter"] != unescape(tb, filter) {
		tb.Fatalf("first event %+v, want subscribed to %s", ev, filter)
	}
	return s, answer{status: res.StatusCode}
}

func unescape(tb testing.TB, s string) string {
	tb.Helper()
	u, err := url.PathUnescape(s)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// next returns the stream's next event; a zero event once it ended.
func (s *sse) next(tb testing.TB) sseEvent {
	tb.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-time.After(wait):
		tb.Fatal("no event on the stream")
		return sseEvent{}
	}
}

// ended waits until the stream's connection is closed.
func (s *sse) ended(tb testing.TB) {
	tb.Helper()
	deadline := time.After(wait)
	for {
		select {
		case _, ok := <-s.events:
			if !ok {
				return
			}
		case <-deadline:
			tb.Fatal("stream still open")
		}
	}
}

// httpsPolicy lets every client use tele/# and cmd/#, but not publish on
// tele/secret, and nothing else; extra rules come first.
func httpsPolicy(tb testing.TB, extra ...policy.Rule) *policy.Policy {
	tb.Helper()
	p, err := policy.Compile(append(extra,
		policy.Rule{ID: "tele", Effect: policy.Allow, Action: policy.ActionPubSub, Topic: "tele/#", Who: policy.WhoAny},
		policy.Rule{ID: "cmd", Effect: policy.Allow, Action: policy.ActionPubSub, Topic: "cmd/#", Who: policy.WhoAny},
		policy.Rule{ID: "secret", Effect: policy.Deny, Action: policy.ActionPublish, Topic: "tele/secret", Who: policy.WhoAny},
	), policy.Deny)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestHTTPSPublishReachesMQTTSubscriber(t *testing.T) {
	e := newEnv(t, withHTTPS(withPolicy(httpsPolicy(t))))
	watcher, _ := e.issue(t, "watcher")
	sub := e.subscriber(t, &watcher, "watch", "tele/#")
	dev, id := e.issue(t, "dev1")
	c := e.httpsClient(t, &dev)

	for name, tc := range map[string]struct {
		path   string
		status int
		qos    float64
	}{
		"qos 1 is acknowledged": {"tele/dev1/temp?qos=1", http.StatusOK, 1},
		"qos 0 is accepted":     {"tele/dev1/hum", http.StatusAccepted, 0},
	} {
		t.Run(name, func(t *testing.T) {
			a := e.post(t, c, tc.path, "21.5")
			topic := strings.SplitN(tc.path, "?", 2)[0]
			if a.status != tc.status || a.body["topic"] != topic || a.body["qos"] != tc.qos || a.body["bytes"] != 4.0 {
				t.Fatalf("answer %+v", a)
			}
			select {
			case m := <-sub.msgs:
				if m.Topic() != topic || string(m.Payload()) != "21.5" {
					t.Fatalf("subscriber got %s %q", m.Topic(), m.Payload())
				}
			case <-time.After(wait):
				t.Fatal("the MQTT subscriber got nothing")
			}
		})
	}

	// Both posts went over one kept-alive connection: one session.
	var https []broker.Session
	for _, s := range e.b.Sessions() {
		if s.Transport == broker.TransportHTTPS {
			https = append(https, s)
		}
	}
	if len(https) != 1 || https[0].CertID != id || https[0].CN != "dev1" || https[0].MsgsIn != 2 {
		t.Fatalf("https sessions %+v", https)
	}
	e.ev.wait(t, 1, broker.EventConnected, "", id)

	t.Run("retained", func(t *testing.T) {
		if a := e.post(t, c, "tele/dev1/state?retain=true&qos=1", "online"); a.status != http.StatusOK {
			t.Fatalf("answer %+v", a)
		}
		late := e.subscriber(t, &watcher, "late", "tele/dev1/state")
		select {
		case m := <-late.msgs:
			if !m.Retained() || string(m.Payload()) != "online" {
				t.Fatalf("late subscriber got %q retained=%v", m.Payload(), m.Retained())
			}
		case <-time.After(wait):
			t.Fatal("no retained message")
		}
	})
}

func TestHTTPSStreamGetsMQTTPublishes(t *testing.T) {
	e := newEnv(t, withHTTPS(withPolicy(httpsPolicy(t))))
	dev, _ := e.issue(t, "dev1")
	s, _ := e.subscribeSSE(t, e.httpsClient(t, &dev), "cmd/%23")
	backend, _ := e.issue(t, "backend")
	pub := e.mustConnect(t, broker.TransportMQTTS, &backend, "backend")

	for name, tc := range map[string]struct {
		topic    string
		payload  []byte
		qos      byte
		encoding string
		want     string
	}{
		"text":   {"cmd/dev1/led", []byte("on"), 1, "utf-8", "on"},
		"binary": {"cmd/dev1/fw", []byte{0xff, 0x00, 0xfe}, 0, "base64", "/wD+"},
	} {
		t.Run(name, func(t *testing.T) {
			if tok := pub.Publish(tc.topic, tc.qos, false, tc.payload); !tok.WaitTimeout(wait) || tok.Error() != nil {
				t.Fatalf("publish: %v", tok.Error())
			}
			ev := s.next(t)
			if ev.name != "message" || ev.data["topic"] != tc.topic || ev.data["payload"] != tc.want || ev.data["encoding"] != tc.encoding {
				t.Fatalf("event %+v", ev)
			}
		})
	}
	t.Run("denied by policy at delivery", func(t *testing.T) {
		// A rule added after the stream subscribed applies to each message.
		e.b.SetPolicy(httpsPolicy(t, policy.Rule{ID: "hush", Effect: policy.Deny, Action: policy.ActionSubscribe, Topic: "cmd/secret", Who: "cn:dev1"}))
		for _, topic := range []string{"cmd/secret", "cmd/dev1/after"} {
			if tok := pub.Publish(topic, 1, false, "x"); !tok.WaitTimeout(wait) || tok.Error() != nil {
				t.Fatalf("publish %s: %v", topic, tok.Error())
			}
		}
		if ev := s.next(t); ev.data["topic"] != "cmd/dev1/after" {
			t.Fatalf("event %+v, want only cmd/dev1/after", ev)
		}
	})
}

func TestHTTPSRefusals(t *testing.T) {
	e := newEnv(t, withHTTPS(func(c *broker.Config) {
		c.Policy = httpsPolicy(t)
		c.Limits.MaxPacketSize = 1024
		c.Limits.MaxMsgRate = 1
	}))
	good, _ := e.issue(t, "good")
	suspended, suspendedID := e.issue(t, "suspended")
	e.transition(t, suspendedID, store.StateSuspended)
	revoked, revokedID := e.issue(t, "revoked")
	e.transition(t, revokedID, store.StateRevoked)
	foreign, _ := pkitest.Foreign(t, "stranger")
	selfSigned := pkitest.SelfSigned(t, "loner")
	tampered := pkitest.Tampered(t, e.a)
	expired := pkitest.ClientTLS(t, pkitest.Expired(t, e.a))

	for name, tc := range map[string]struct {
		cert   *tls.Certificate
		post   string // topic and query; empty: GET subscribe
		sub    string
		body   string
		status int
		reason string
		event  string // the event type it raises, if any
	}{
		"no certificate":   {nil, "tele/x", "", "1", http.StatusUnauthorized, broker.ReasonNoClientCert, broker.EventRefused},
		"unknown CA":       {&foreign, "tele/x", "", "1", http.StatusUnauthorized, pki.ReasonUnknownCA, broker.EventRefused},
		"tampered":         {&tampered, "tele/x", "", "1", http.StatusUnauthorized, pki.ReasonBadSignature, broker.EventRefused},
		"self-signed":      {&selfSigned, "tele/x", "", "1", http.StatusUnauthorized, pki.ReasonSelfSigned, broker.EventRefused},
		"suspended":        {&suspended, "tele/x", "", "1", http.StatusForbidden, pki.ReasonSuspended, broker.EventRefused},
		"revoked":          {&revoked, "tele/x", "", "1", http.StatusForbidden, pki.ReasonRevoked, broker.EventRefused},
		"expired":          {&expired, "tele/x", "", "1", http.StatusForbidden, pki.ReasonExpired, broker.EventRefused},
		"suspended sse":    {&suspended, "", "tele/%23", "", http.StatusForbidden, pki.ReasonSuspended, broker.EventRefused},
		"publish denied":   {&good, "other/x", "", "1", http.StatusForbidden, "publish other/x denied by rule default", broker.EventDenied},
		"rule denies":      {&good, "tele/secret", "", "1", http.StatusForbidden, "publish tele/secret denied by rule secret", broker.EventDenied},
		"subscribe deny":   {&good, "", "other/%23", "", http.StatusForbidden, "subscribe other/# denied by rule default", broker.EventDenied},
		"body too large":   {&good, "tele/x", "", strings.Repeat("x", 1025), http.StatusRequestEntityTooLarge, broker.ReasonPacketTooLarge, ""},
		"packet too large": {&good, "tele/" + strings.Repeat("t", 100), "", strings.Repeat("x", 1000), http.StatusRequestEntityTooLarge, broker.ReasonPacketTooLarge, ""},
		"wildcard topic":   {&good, "tele/%2B", "", "1", http.StatusBadRequest, broker.ReasonBadTopic, ""},
		"$SYS topic":       {&good, "$SYS/x", "", "1", http.StatusBadRequest, broker.ReasonBadTopic, ""},
		"bad qos":          {&good, "tele/x?qos=2", "", "1", http.StatusBadRequest, broker.ReasonBadQoS, ""},
		"bad retain":       {&good, "tele/x?retain=maybe", "", "1", http.StatusBadRequest, broker.ReasonBadRetain, ""},
		"bad filter":       {&good, "", "tele/%23/x", "", http.StatusBadRequest, broker.ReasonBadFilter, ""},
	} {
		t.Run(name, func(t *testing.T) {
			c := e.httpsClient(t, tc.cert)
			var a answer
			if tc.post != "" {
				a = e.post(t, c, tc.post, tc.body)
			} else {
				_, a = e.subscribeSSE(t, c, tc.sub)
			}
			if a.status != tc.status || a.body["reason"] != tc.reason || a.body["error"] == "" {
				t.Fatalf("answer %+v, want %d %q", a, tc.status, tc.reason)
			}
			if tc.event != "" {
				waitFor(t, func() bool {
					return len(e.ev.match(func(ev broker.Event) bool {
						return ev.Type == tc.event && ev.Transport == broker.TransportHTTPS && ev.Reason == tc.reason
					})) > 0
				}, wait, "%s event %q", tc.event, tc.reason)
			}
		})
	}

	t.Run("rate limit", func(t *testing.T) {
		c := e.httpsClient(t, &good)
		if a := e.post(t, c, "tele/rate", "1"); a.status != http.StatusAccepted {
			t.Fatalf("first publish: %+v", a)
		}
		a := e.post(t, c, "tele/rate", "2")
		if a.status != http.StatusTooManyRequests || a.body["reason"] != broker.ReasonRateLimit {
			t.Fatalf("second publish within the second: %+v", a)
		}
		e.ev.wait(t, 1, broker.EventDisconnected, broker.ReasonRateLimit, "")
	})
}

func TestHTTPSDropsStreams(t *testing.T) {
	e := newEnv(t, withHTTPS(nil))
	for name, tc := range map[string]struct {
		drop  func(id string) int
		cause string
	}{
		"suspend": {func(id string) int {
			e.transition(t, id, store.StateSuspended)
			return e.b.DropSerial(id, pki.ReasonSuspended)
		}, pki.ReasonSuspended},
		"kick": {func(string) int {
			for _, s := range e.b.Sessions() {
				if s.Transport == broker.TransportHTTPS && e.b.Kick(s.ClientID, "") {
					return 1
				}
			}
			return 0
		}, broker.CauseKicked},
	} {
		t.Run(name, func(t *testing.T) {
			cert, id := e.issue(t, "streamer-"+name)
			c := e.httpsClient(t, &cert)
			s, _ := e.subscribeSSE(t, c, "tele/%23")
			if n := e.b.SessionCount(id); n != 1 {
				t.Fatalf("%d sessions for the stream, want 1", n)
			}
			start := time.Now()
			if n := tc.drop(id); n != 1 {
				t.Fatalf("dropped %d", n)
			}
			if ev := s.next(t); ev.name != "closed" || ev.data["reason"] != tc.cause {
				t.Fatalf("event %+v, want closed: %s", ev, tc.cause)
			}
			s.ended(t)
			if took := time.Since(start); took > 2*time.Second {
				t.Fatalf("the stream took %s to drop", took)
			}
			e.ev.wait(t, 1, broker.EventDisconnected, tc.cause, id)
			if n := e.b.SessionCount(id); n != 0 {
				t.Fatalf("%d sessions left", n)
			}
		})
	}
	t.Run("suspend closes an idle kept-alive connection", func(t *testing.T) {
		cert, id := e.issue(t, "keeper")
		conn, err := tls.Dial("tcp", e.addr[broker.TransportHTTPS], e.tlsConfig(&cert))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		req, _ := http.NewRequest(http.MethodPost, e.httpsURL("/v1/publish/"+"tele/k"), strings.NewReader("1"))
		if err := req.Write(conn); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(conn)
		res, err := http.ReadResponse(r, req)
		if err != nil || res.StatusCode != http.StatusAccepted {
			t.Fatalf("answer %v, %v", res, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		e.transition(t, id, store.StateSuspended)
		if n := e.b.DropSerial(id, pki.ReasonSuspended); n != 1 {
			t.Fatalf("dropped %d", n)
		}
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := r.ReadByte(); err != io.EOF {
			t.Fatalf("read on the dropped connection: %v, want EOF", err)
		}
	})
}

func TestHTTPSClientAuthSwitch(t *testing.T) {
	e := newEnv(t, withHTTPS(func(c *broker.Config) {
		c.ClientAuth = map[string]bool{broker.TransportHTTPS: false}
	}))
	anon := e.httpsClient(t, nil)
	if a := e.post(t, anon, "tele/anon", "1"); a.status != http.StatusAccepted {
		t.Fatalf("anonymous publish with client auth off: %+v", a)
	}
	s, _ := e.subscribeSSE(t, e.httpsClient(t, nil), "tele/%23")
	if !e.b.ClientAuth(broker.TransportMQTTS) || e.b.ClientAuth(broker.TransportHTTPS) {
		t.Fatal("modes are not per transport")
	}
	n, err := e.b.SetClientAuth(broker.TransportHTTPS, true)
	if err != nil || n != 2 {
		t.Fatalf("SetClientAuth: %d, %v; want 2 dropped", n, err)
	}
	if ev := s.next(t); ev.name != "closed" || ev.data["reason"] != broker.CauseMTLSOn {
		t.Fatalf("event %+v", ev)
	}
	s.ended(t)
	a := e.post(t, e.httpsClient(t, nil), "tele/anon", "2")
	if a.status != http.StatusUnauthorized || a.body["reason"] != broker.ReasonNoClientCert {
		t.Fatalf("anonymous publish with client auth on: %+v", a)
	}
	var info broker.TransportInfo
	for _, ti := range e.b.Transports() {
		if ti.Name == broker.TransportHTTPS {
			info = ti
		}
	}
	if !info.TLS || !info.ClientAuth || info.Addr != e.addr[broker.TransportHTTPS] {
		t.Fatalf("transport info %+v", info)
	}
}

func TestHTTPSRejectsPlainHTTP(t *testing.T) {
	e := newEnv(t, withHTTPS(nil))
	res, err := http.Post("http://"+e.addr[broker.TransportHTTPS]+"/v1/publish/"+"tele/x", "text/plain", bytes.NewReader([]byte("1")))
	if err == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		t.Fatalf("plain HTTP answered %d", res.StatusCode)
	}
	e.waitHandshakeRefusal(t, broker.ReasonNotTLS, broker.TransportHTTPS)
}

func TestHTTPSCloseEndsStreams(t *testing.T) {
	e := newEnv(t, withHTTPS(nil))
	cert, _ := e.issue(t, "dev1")
	s, _ := e.subscribeSSE(t, e.httpsClient(t, &cert), "tele/%23")
	done := make(chan error, 1)
	go func() { done <- e.b.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("close: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Close hangs on an open event stream")
	}
	s.ended(t)
	e.ev.wait(t, 1, broker.EventDisconnected, broker.CauseStopped, "")
}

func TestHTTPSConnectionLimit(t *testing.T) {
	e := newEnv(t, withHTTPS(func(c *broker.Config) { c.Limits.MaxConnsPerIP = 1 }))
	cert, _ := e.issue(t, "dev1")
	c := e.httpsClient(t, &cert)
	if a := e.post(t, c, "tele/x", "1"); a.status != http.StatusAccepted {
		t.Fatalf("answer %+v", a)
	}
	// c keeps its connection alive: a second one from this IP is closed
	// before the TLS handshake.
	if res, err := e.httpsClient(t, &cert).Post(e.httpsURL("/v1/publish/tele/x"), "text/plain", strings.NewReader("2")); err == nil {
		res.Body.Close()
		t.Fatalf("second connection answered %d", res.StatusCode)
	}
	e.waitHandshakeRefusal(t, "too many connections from 127.0.0.1", broker.TransportHTTPS)
}

// BenchmarkHTTPSPublish times one POST on a kept-alive connection, answered
// once the broker processed it (QoS 0) or acknowledged it (QoS 1).
func BenchmarkHTTPSPublish(b *testing.B) {
	e := newEnv(b, withHTTPS(nil))
	cert, _ := e.issue(b, "bench")
	c := e.httpsClient(b, &cert)
	for _, qos := range []string{"0", "1"} {
		b.Run("qos"+qos, func(b *testing.B) {
			url := e.httpsURL("/v1/publish/tele/bench?qos=" + qos)
			for b.Loop() {
				res, err := c.Post(url, "application/octet-stream", strings.NewReader("21.5"))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode >= 300 {
					b.Fatalf("status %d", res.StatusCode)
				}
			}
		})
	}
}
