package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// HTTPS device API paths: the topic or filter follows, percent-encoded where
// URLs need it (a filter's # is %23).
const (
	httpsPublishPath   = "/v1/publish/"
	httpsSubscribePath = "/v1/subscribe/"
)

// Reasons of the HTTPS API's own 400 answers; every other answer carries the
// reason the MQTT gate, limits or policy give.
const (
	ReasonBadTopic  = "invalid topic"
	ReasonBadFilter = "invalid topic filter"
	ReasonBadQoS    = "invalid qos: want 0 or 1"
	ReasonBadRetain = "invalid retain: want true or false"
)

const (
	// httpsIdleTimeout closes a keep-alive connection, and so its session,
	// after this long without a request.
	httpsIdleTimeout = 60 * time.Second
	// httpsBodyTimeout bounds the upload of a publish's body.
	httpsBodyTimeout = 60 * time.Second
	// httpsKeepalive is the MQTT keep alive the front asks for its sessions;
	// it pings at half of it (or of the server's cap).
	httpsKeepalive = 60
	// sseKeepalive is how often an idle event stream gets a comment, so
	// proxies and clients see it is alive.
	sseKeepalive = 15 * time.Second
	// sseWriteTimeout drops a stream whose reader has not taken an event for
	// this long: its connection is closed.
	sseWriteTimeout = 10 * time.Second
	// sseBuffer bounds the messages held for one stream; more, while its
	// reader is slow, are dropped and counted (Session.DroppedOut).
	sseBuffer = 64
	// httpsInflight is the Receive Maximum a session announces: the QoS 1
	// deliveries it may have unacknowledged, which bounds its ack queue.
	httpsInflight = 16
)

// errSessionEnded is returned to a request whose session ended under it.
var errSessionEnded = errors.New("session ended")

// httpsConnKey is the context key of a connection's *httpsConn.
type httpsConnKey struct{}

// httpsFront serves the HTTPS device API on connections its gate listener
// has handshaken. Each connection gets one MQTT session in mochi, opened at
// its first request and spoken to over an in-memory pipe, so publishes and
// deliveries take the path of every other client: the gate hook (admission,
// the index, events), the policy, the limits and the retained store. mochi's
// inline client (Server.Publish) would bypass all of them.
type httpsFront struct {
	l         *gateListener
	conns     *connQueue
	srv       *http.Server
	establish listeners.EstablishFn
	served    sync.WaitGroup
}

func newHTTPSFront(l *gateListener) *httpsFront {
	f := &httpsFront{l: l, conns: newConnQueue(l.ln.Addr())}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+httpsPublishPath+"{topic...}", f.publish)
	mux.HandleFunc("GET "+httpsSubscribePath+"{filter...}", f.subscribe)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, &httpError{status: http.StatusNotFound, msg: "no such endpoint", reason: "not found"})
	})
	f.srv = &http.Server{
		Handler:           f.refused(mux),
		ReadHeaderTimeout: l.b.handshakeTimeout,
		MaxHeaderBytes:    wsMaxHeader,
		IdleTimeout:       httpsIdleTimeout,
		ErrorLog:          slog.NewLogLogger(l.log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if hc, ok := c.(*httpsConn); ok {
				return context.WithValue(ctx, httpsConnKey{}, hc)
			}
			return ctx
		},
		ConnState: f.connState,
	}
	return f
}

// start serves HTTP until close; establish is mochi's, kept for sessions.
func (f *httpsFront) start(establish listeners.EstablishFn) {
	f.establish = establish
	f.served.Add(1)
	go func() {
		defer f.served.Done()
		if err := f.srv.Serve(f.conns); err != nil && !errors.Is(err, http.ErrServerClosed) {
			f.l.log.Warn("serve https", "error", err)
		}
	}()
}

// deliver queues a handshaken connection for the HTTP server. The gate's
// deadline is lifted: the server bounds headers and idle time itself, and
// each answer and event gets its own write deadline.
func (f *httpsFront) deliver(c *peerConn) {
	_ = c.SetDeadline(time.Time{})
	if !f.conns.put(&httpsConn{peerConn: c}) {
		_ = c.Close()
	}
}

// close stops the HTTP server, closing every connection and so its session.
func (f *httpsFront) close() {
	_ = f.srv.Close()
	f.served.Wait()
}

// connState ends a connection's session with the connection, and closes a
// connection whose session ended once no request is being answered on it.
func (f *httpsFront) connState(c net.Conn, st http.ConnState) {
	hc, ok := c.(*httpsConn)
	if !ok {
		return
	}
	switch st {
	case http.StateActive:
		hc.setBusy(true)
	case http.StateIdle:
		hc.setBusy(false)
	case http.StateClosed, http.StateHijacked:
		hc.closeSession()
	}
}

// httpError is an answer other than success: its status and JSON body.
type httpError struct {
	status int
	msg    string // for people
	reason string // the gate's, the limits' or the policy's reason
	// challenge is the WWW-Authenticate header of a token refusal (RFC
	// 6750), if any.
	challenge string
}

// writeError answers e as {"error": ..., "reason": ...}.
func writeError(w http.ResponseWriter, e *httpError) {
	if e.challenge != "" {
		w.Header().Set("WWW-Authenticate", e.challenge)
	}
	writeJSON(w, e.status, struct {
		Error  string `json:"error"`
		Reason string `json:"reason"`
	}{e.msg, e.reason})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// authReasons are the refusals that mean the client is not identified (401);
// the rest mean it is identified and not allowed (403). The certificate ones
// are the Authorizer's (pki's) reasons.
var authReasons = map[string]bool{
	ReasonNoClientCert:    true,
	ReasonBadSignature:    true,
	"unknown CA":          true,
	"self-signed":         true,
	"not registered":      true,
	"unknown certificate": true,
}

// refusal maps a reason the gate, the limits or a session's end gave to its
// HTTP answer. A missing token is challenged for one (RFC 6750: no error
// code), an expired one named invalid.
func refusal(reason string) *httpError {
	switch {
	case reason == ReasonNoToken, reason == ReasonNoCredential:
		return &httpError{status: http.StatusUnauthorized, msg: "client not authenticated", reason: reason, challenge: bearerRealm}
	case reason == CauseTokenExpired:
		return tokenHTTPError(reason, false)
	case authReasons[reason]:
		return &httpError{status: http.StatusUnauthorized, msg: "client not authenticated", reason: reason}
	case reason == ReasonPacketTooLarge:
		return &httpError{status: http.StatusRequestEntityTooLarge, msg: "message too large", reason: reason}
	case reason == ReasonRateLimit:
		return &httpError{status: http.StatusTooManyRequests, msg: "limit exceeded", reason: reason}
	case reason == CauseStopped:
		return &httpError{status: http.StatusServiceUnavailable, msg: "server stopping", reason: reason}
	}
	return &httpError{status: http.StatusForbidden, msg: "client refused", reason: reason}
}

// refused answers every request on a connection whose handshake the gate
// refused with that refusal (401 or 403) and closes the connection, before
// any route is looked up: such a client learns why it was refused and
// nothing else, not even which paths exist.
func (f *httpsFront) refused(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hc, _ := r.Context().Value(httpsConnKey{}).(*httpsConn); hc != nil && hc.p.refusal != "" {
			closeAfter(w)
			writeError(w, refusal(hc.p.refusal))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// principal returns the connection r came on, identified by the client
// certificate the gate verified at its handshake and the bearer token of
// its first request (see bearer), or the refusal to answer. It is the one
// place HTTPS requests are authenticated; admission of the identity
// (lifecycle states now, the transport's auth mode and client-cert switch)
// is the gate hook's, when the connection's session opens.
func (f *httpsFront) principal(r *http.Request) (*httpsConn, *httpError) {
	hc, _ := r.Context().Value(httpsConnKey{}).(*httpsConn)
	if hc == nil {
		return nil, &httpError{status: http.StatusInternalServerError, msg: "not a gated connection", reason: "internal error"}
	}
	// A refused handshake never gets here: see refused.
	if herr := f.bearer(hc, r); herr != nil {
		return nil, herr
	}
	return hc, nil
}

// publish is POST /v1/publish/{topic...}: the body is the payload, published
// as the connection's client with ?qos=0|1 (or X-MQTT-QoS) and ?retain=true.
// The answer is 200 once a QoS 1 message is acknowledged, 202 for QoS 0 once
// the broker has processed it.
func (f *httpsFront) publish(w http.ResponseWriter, r *http.Request) {
	hc, ok := f.admitRequest(w, r)
	if !ok {
		return
	}
	topic := r.PathValue("topic")
	qos, retain, herr := publishOptions(r, topic)
	if herr != nil {
		writeError(w, herr)
		return
	}
	max := f.l.b.limits.Load().MaxPacketSize
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(httpsBodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(max)))
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			closeAfter(w)
			writeError(w, refusal(ReasonPacketTooLarge))
			return
		}
		writeError(w, &httpError{status: http.StatusBadRequest, msg: "read body: " + err.Error(), reason: "bad request"})
		return
	}
	s, herr := f.session(hc)
	if herr != nil {
		closeAfter(w)
		writeError(w, herr)
		return
	}
	if herr := s.publish(topic, body, qos, retain, max); herr != nil {
		if s.ended() {
			closeAfter(w)
		}
		writeError(w, herr)
		return
	}
	status := http.StatusOK
	if qos == 0 {
		status = http.StatusAccepted
	}
	writeJSON(w, status, struct {
		Topic string `json:"topic"`
		QoS   byte   `json:"qos"`
		Bytes int    `json:"bytes"`
	}{topic, qos, len(body)})
}

// publishOptions reads and checks a publish's topic, QoS and retain flag.
func publishOptions(r *http.Request, topic string) (byte, bool, *httpError) {
	if topic == "" || len(topic) > 65535 || !utf8.ValidString(topic) || strings.ContainsRune(topic, 0) || !mqtt.IsValidFilter(topic, true) {
		return 0, false, &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf("topic %q: not a topic name (no wildcards, no $SYS)", topic), reason: ReasonBadTopic}
	}
	q := r.URL.Query().Get("qos")
	if q == "" {
		q = r.Header.Get("X-MQTT-QoS")
	}
	qos, herr := parseQoS(q)
	if herr != nil {
		return 0, false, herr
	}
	retain := false
	if v := r.URL.Query().Get("retain"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return 0, false, &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf("retain %q", v), reason: ReasonBadRetain}
		}
		retain = b
	}
	return qos, retain, nil
}

// parseQoS reads a QoS of 0 (the default) or 1: QoS 2's exchange has no
// meaning for one HTTP request.
func parseQoS(v string) (byte, *httpError) {
	switch v {
	case "", "0":
		return 0, nil
	case "1":
		return 1, nil
	}
	return 0, &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf("qos %q", v), reason: ReasonBadQoS}
}

// admitRequest is principal for a handler: a refusal is answered (and the
// connection not kept alive) and ok is false.
func (f *httpsFront) admitRequest(w http.ResponseWriter, r *http.Request) (hc *httpsConn, ok bool) {
	hc, herr := f.principal(r)
	if herr != nil {
		closeAfter(w)
		writeError(w, herr)
		return nil, false
	}
	return hc, true
}

// closeAfter asks the client not to reuse the connection: its session ended
// or will not open.
func closeAfter(w http.ResponseWriter) { w.Header().Set("Connection", "close") }

// subscribe is GET /v1/subscribe/{filter...}: server-sent events, one
// "message" event per delivery, until the client goes away or its session is
// dropped (a "closed" event names the cause first).
func (f *httpsFront) subscribe(w http.ResponseWriter, r *http.Request) {
	hc, ok := f.admitRequest(w, r)
	if !ok {
		return
	}
	filter := r.PathValue("filter")
	if filter == "" || len(filter) > 65535 || !utf8.ValidString(filter) || strings.ContainsRune(filter, 0) || !mqtt.IsValidFilter(filter, false) {
		writeError(w, &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf("filter %q: not a topic filter", filter), reason: ReasonBadFilter})
		return
	}
	qos, herr := parseQoS(r.URL.Query().Get("qos"))
	if herr != nil {
		writeError(w, herr)
		return
	}
	s, herr := f.session(hc)
	if herr != nil {
		closeAfter(w)
		writeError(w, herr)
		return
	}
	if herr := s.subscribe(filter, qos); herr != nil {
		if s.ended() {
			closeAfter(w)
		}
		writeError(w, herr)
		return
	}
	s.stream(w, r, filter, qos)
}

// sseMessage is the data of a "message" event. A payload that is valid
// UTF-8 is sent as text, any other in base64; encoding says which.
type sseMessage struct {
	Topic    string `json:"topic"`
	Payload  string `json:"payload"`
	Encoding string `json:"encoding"` // "utf-8" or "base64"
	QoS      byte   `json:"qos"`
	Retain   bool   `json:"retain"`
}
