package broker

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/gatehouse/gatehouse/broker/policy"
)

// httpsConn is one connection of the HTTPS API as the HTTP server holds it,
// and the MQTT session it opens at its first request. HTTP/1.1 answers one
// request at a time, so a connection has at most one exchange under way.
type httpsConn struct {
	*peerConn
	mu     sync.Mutex
	s      *httpsSession // nil until the first request needs one
	busy   bool          // a request is being answered
	closed bool          // the HTTP server is done with the connection
}

// setBusy records whether a request is being answered; a connection whose
// session ended is closed as soon as it is idle.
func (hc *httpsConn) setBusy(busy bool) {
	hc.mu.Lock()
	hc.busy = busy
	s := hc.s
	hc.mu.Unlock()
	if !busy && s != nil && s.ended() {
		_ = hc.peerConn.Close()
	}
}

// sessionEnded closes the connection when its session ends between
// requests, so a dropped device's connection does not linger; a request
// under way answers first (setBusy closes it after).
func (hc *httpsConn) sessionEnded() {
	hc.mu.Lock()
	busy := hc.busy
	hc.mu.Unlock()
	if !busy {
		_ = hc.peerConn.Close()
	}
}

// closeSession ends the session with the connection.
func (hc *httpsConn) closeSession() {
	hc.mu.Lock()
	hc.closed = true
	s := hc.s
	hc.mu.Unlock()
	if s != nil {
		_ = s.conn.Close()
	}
}

// delivery is a message on its way to an event stream.
type delivery struct {
	topic   string
	payload []byte
	qos     byte
	retain  bool
}

// httpsSession is the MQTT 5 client a connection speaks to mochi with, over
// an in-memory pipe: mochi sees an ordinary client on the https transport.
// Every packet to mochi goes through the writer goroutine, so the reader,
// which acknowledges deliveries, never blocks on the pipe while mochi blocks
// writing to it.
type httpsSession struct {
	hc      *httpsConn
	b       *Broker
	p       *peer
	id      string   // the MQTT client ID
	conn    net.Conn // the front's end of the pipe
	out     chan []byte
	replies chan packets.Packet // CONNACK, PUBACK, SUBACK, PINGRESP
	msgs    chan delivery       // deliveries for the event stream; bounded
	done    chan struct{}       // closed when the session ended
	code    atomic.Uint32       // reason code of the DISCONNECT mochi sent, if any

	// exchange serialises the requests that await a reply: the request's and
	// the keep-alive pinger's, so a reply is never taken for another's.
	exchange sync.Mutex
	lastID   uint16
}

// session returns the connection's session, opening it at the first request.
func (f *httpsFront) session(hc *httpsConn) (*httpsSession, *httpError) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if hc.s != nil {
		if hc.s.ended() {
			return nil, refusal(hc.s.cause())
		}
		return hc.s, nil
	}
	if hc.closed {
		return nil, refusal(CauseClientClosed)
	}
	s, herr := f.open(hc)
	if herr != nil {
		return nil, herr
	}
	hc.s = s
	return s, nil
}

// open admits the connection's identity now (the certificate's state, the
// transport's client-cert switch) and connects its session to mochi, whose
// gate hook admits it again, registers it in the index and emits its events.
func (f *httpsFront) open(hc *httpsConn) (*httpsSession, *httpError) {
	b, p := f.l.b, hc.p
	if reason := b.admit(p, time.Now()); reason != "" {
		b.emit(p.event(EventRefused, reason, ""))
		return nil, refusal(reason)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	ours, theirs := net.Pipe()
	s := &httpsSession{
		hc: hc, b: b, p: p, id: "https-" + hex.EncodeToString(rnd[:]), conn: ours,
		out:     make(chan []byte, httpsInflight+4),
		replies: make(chan packets.Packet, 4),
		msgs:    make(chan delivery, sseBuffer),
		done:    make(chan struct{}),
	}
	if !f.l.track(p, hc.peerConn) {
		_, _ = ours.Close(), theirs.Close()
		return nil, refusal(CauseStopped)
	}
	go func() {
		f.l.establish(f.establish, &meteredConn{Conn: theirs, p: p}, p)
		_ = theirs.Close()
		f.l.untrack(p)
	}()
	go s.read()
	go s.write()

	s.exchange.Lock()
	defer s.exchange.Unlock()
	s.send(packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: 5,
		Connect: packets.ConnectParams{
			ProtocolName: []byte("MQTT"), Clean: true, Keepalive: httpsKeepalive, ClientIdentifier: s.id,
		},
		Properties: packets.Properties{ReceiveMaximum: httpsInflight},
	})
	ack, err := s.await(packets.Connack, 0)
	if err == nil && ack.ReasonCode >= packets.ErrUnspecifiedError.Code {
		err = errSessionEnded
	}
	if err != nil {
		_ = s.conn.Close()
		reason := b.admit(p, time.Now()) // the gate hook's reason, which it emitted
		if reason == "" {
			reason = s.cause()
		}
		return nil, refusal(reason)
	}
	ka := time.Duration(httpsKeepalive) * time.Second
	if ack.Properties.ServerKeepAliveFlag && ack.Properties.ServerKeepAlive > 0 {
		ka = time.Duration(ack.Properties.ServerKeepAlive) * time.Second
	}
	go s.ping(max(ka/2, time.Second))
	return s, nil
}

// ended reports whether the session is over.
func (s *httpsSession) ended() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// cause is why the session ended: the cause the broker recorded (suspended,
// rate limit, kicked, ...), else what mochi's DISCONNECT said.
func (s *httpsSession) cause() string {
	s.b.idx.mu.Lock()
	c := s.p.cause
	s.b.idx.mu.Unlock()
	if c != "" {
		return c
	}
	switch code := byte(s.code.Load()); code {
	case packets.ErrMessageRateTooHigh.Code:
		return ReasonRateLimit
	case packets.ErrPacketTooLarge.Code:
		return ReasonPacketTooLarge
	case 0:
		return errSessionEnded.Error()
	default:
		return "disconnected by broker: 0x" + hex.EncodeToString([]byte{code})
	}
}

// read dispatches what mochi sends until the pipe closes.
func (s *httpsSession) read() {
	defer s.hc.sessionEnded()
	defer close(s.done)
	defer s.conn.Close()
	r := bufio.NewReader(s.conn)
	for {
		pk, err := readPacket(r)
		if err != nil {
			return
		}
		switch pk.FixedHeader.Type {
		case packets.Publish:
			s.deliver(pk)
		case packets.Disconnect:
			s.code.Store(uint32(pk.ReasonCode))
			return
		default:
			select {
			case s.replies <- pk:
			default: // nobody asked: a stale reply
			}
		}
	}
}

// deliver queues a message for the event stream, or drops and counts it
// when the stream's reader is too slow; a QoS 1 message is acknowledged
// either way, as mochi's own queue drops do.
func (s *httpsSession) deliver(pk packets.Packet) {
	if pk.FixedHeader.Qos > 0 {
		var buf bytes.Buffer
		ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, ProtocolVersion: 5, PacketID: pk.PacketID}
		if ack.PubackEncode(&buf) == nil {
			select {
			case s.out <- buf.Bytes():
			default: // cannot happen: mochi keeps at most httpsInflight unacknowledged
			}
		}
	}
	select {
	case s.msgs <- delivery{pk.TopicName, pk.Payload, pk.FixedHeader.Qos, pk.FixedHeader.Retain}:
	default: // counted and reported as mochi's own queue drops are
		s.b.droppedTo(s.p, s.id)
	}
}

// write sends the queued packets to mochi, in order.
func (s *httpsSession) write() {
	for {
		select {
		case b := <-s.out:
			if _, err := s.conn.Write(b); err != nil {
				_ = s.conn.Close()
				return
			}
		case <-s.done:
			return
		}
	}
}

// ping keeps the session alive between requests and during event streams.
func (s *httpsSession) ping(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.exchange.Lock()
			if s.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}}) == nil {
				_, _ = s.await(packets.Pingresp, 0)
			}
			s.exchange.Unlock()
		case <-s.done:
			return
		}
	}
}

// encode encodes a packet of the front's own making.
func encode(pk packets.Packet) []byte {
	var buf bytes.Buffer
	switch pk.FixedHeader.Type {
	case packets.Connect:
		_ = pk.ConnectEncode(&buf)
	case packets.Publish:
		_ = pk.PublishEncode(&buf)
	case packets.Subscribe:
		_ = pk.SubscribeEncode(&buf)
	case packets.Pingreq:
		_ = pk.PingreqEncode(&buf)
	}
	return buf.Bytes()
}

// send queues pk for mochi.
func (s *httpsSession) send(pk packets.Packet) error {
	return s.sendRaw(encode(pk))
}

func (s *httpsSession) sendRaw(b []byte) error {
	select {
	case s.out <- b:
		return nil
	case <-s.done:
		return errSessionEnded
	}
}

// await waits for mochi's reply of type typ (and packet id), for the
// handshake timeout at most. The caller holds exchange.
func (s *httpsSession) await(typ byte, id uint16) (packets.Packet, error) {
	t := time.NewTimer(s.b.handshakeTimeout)
	defer t.Stop()
	for {
		select {
		case pk := <-s.replies:
			if pk.FixedHeader.Type == typ && pk.PacketID == id {
				return pk, nil
			}
		case <-s.done:
			return packets.Packet{}, errSessionEnded
		case <-t.C:
			return packets.Packet{}, fmt.Errorf("broker did not answer within %s", s.b.handshakeTimeout)
		}
	}
}

// nextID returns a packet identifier; the caller holds exchange.
func (s *httpsSession) nextID() uint16 {
	s.lastID++
	if s.lastID == 0 {
		s.lastID = 1
	}
	return s.lastID
}

// acl is the session's compiled policy; nil allows everything.
func (s *httpsSession) acl() *policy.Session {
	cl := s.b.clientOf(s.p)
	if cl == nil {
		return nil
	}
	return s.b.aclSession(cl, s.p)
}

// failed maps a request's error to its answer.
func (s *httpsSession) failed(err error) *httpError {
	if err == errSessionEnded {
		return refusal(s.cause())
	}
	return &httpError{status: http.StatusGatewayTimeout, msg: err.Error(), reason: "timeout"}
}

// publish publishes one message as the session's client. The policy is
// asked first, as mochi asks it, so that a denied QoS 0 publish, which MQTT
// does not answer, is answered 403; a message over the packet size limit is
// refused before it reaches the pipe. A QoS 0 publish is followed by a ping:
// mochi handles a client's packets in order, so its answer means the publish
// was processed, and a rate limit drop shows as the session's end.
func (s *httpsSession) publish(topic string, payload []byte, qos byte, retain bool, maxSize int) *httpError {
	s.exchange.Lock()
	defer s.exchange.Unlock()
	if acl := s.acl(); acl != nil {
		if ok, rule := acl.Publish(topic); !ok {
			s.b.denied(s.p, s.id, policy.ActionPublish, topic, rule)
			return &httpError{status: http.StatusForbidden, msg: "publish denied", reason: denyReason(policy.ActionPublish, topic, rule)}
		}
	}
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain},
		ProtocolVersion: 5, TopicName: topic, Payload: payload,
	}
	if qos > 0 {
		pk.PacketID = s.nextID()
	}
	b := encode(pk)
	if len(b) > maxSize {
		s.b.limitEvent(s.p, ReasonPacketTooLarge, s.id)
		return refusal(ReasonPacketTooLarge)
	}
	if err := s.sendRaw(b); err != nil {
		return s.failed(err)
	}
	if qos == 0 {
		if err := s.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}}); err != nil {
			return s.failed(err)
		}
		if _, err := s.await(packets.Pingresp, 0); err != nil {
			return s.failed(err)
		}
		return nil
	}
	ack, err := s.await(packets.Puback, pk.PacketID)
	if err != nil {
		return s.failed(err)
	}
	switch code := ack.ReasonCode; {
	case code < packets.ErrUnspecifiedError.Code:
		return nil
	case code == packets.ErrNotAuthorized.Code: // the policy changed since asked
		return &httpError{status: http.StatusForbidden, msg: "publish denied", reason: packets.ErrNotAuthorized.Reason}
	default:
		return &httpError{status: http.StatusBadGateway, msg: "publish refused by the broker", reason: "0x" + hex.EncodeToString([]byte{code})}
	}
}

// subscribe subscribes the session to filter, answering the policy's or the
// limits' refusal of it.
func (s *httpsSession) subscribe(filter string, qos byte) *httpError {
	s.exchange.Lock()
	defer s.exchange.Unlock()
	id := s.nextID()
	err := s.send(packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, // [MQTT-3.8.1-1]
		ProtocolVersion: 5, PacketID: id,
		Filters: packets.Subscriptions{{Filter: filter, Qos: qos}},
	})
	if err != nil {
		return s.failed(err)
	}
	ack, err := s.await(packets.Suback, id)
	if err != nil {
		return s.failed(err)
	}
	if len(ack.ReasonCodes) != 1 {
		return &httpError{status: http.StatusBadGateway, msg: "malformed SUBACK", reason: "internal error"}
	}
	switch code := ack.ReasonCodes[0]; {
	case code < packets.ErrUnspecifiedError.Code:
		return nil
	case code == packets.ErrNotAuthorized.Code:
		reason := packets.ErrNotAuthorized.Reason
		if acl := s.acl(); acl != nil {
			if ok, rule := acl.Subscribe(filter); !ok {
				reason = denyReason(policy.ActionSubscribe, filter, rule)
			}
		}
		return &httpError{status: http.StatusForbidden, msg: "subscribe denied", reason: reason}
	case code == packets.ErrTopicFilterInvalid.Code, code == packets.ErrSharedSubscriptionsNotSupported.Code:
		return &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf("filter %q refused by the broker", filter), reason: ReasonBadFilter}
	default:
		return &httpError{status: http.StatusBadGateway, msg: "subscribe refused by the broker", reason: "0x" + hex.EncodeToString([]byte{code})}
	}
}

// stream writes the session's deliveries as server-sent events, flushing
// each, with a keep-alive comment when idle. It returns when the client goes
// away, a write stalls past sseWriteTimeout (the connection then closes) or
// the session ends, which a "closed" event explains.
func (s *httpsSession) stream(w http.ResponseWriter, r *http.Request, filter string, qos byte) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // no proxy buffering
	w.WriteHeader(http.StatusOK)
	emit := func(text string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
		if _, err := io.WriteString(w, text); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	event := func(name string, v any) bool {
		data, err := json.Marshal(v)
		return err == nil && emit("event: "+name+"\ndata: "+string(data)+"\n\n")
	}
	if !event("subscribed", struct {
		Filter   string `json:"filter"`
		QoS      byte   `json:"qos"`
		ClientID string `json:"client_id"`
	}{filter, qos, s.id}) {
		return
	}
	tick := time.NewTicker(sseKeepalive)
	defer tick.Stop()
	for {
		select {
		case d := <-s.msgs:
			if !event("message", sseOf(d)) {
				return
			}
		case <-tick.C:
			if !emit(": keep-alive\n\n") {
				return
			}
		case <-s.done:
			event("closed", struct {
				Reason string `json:"reason"`
			}{s.cause()})
			return
		case <-r.Context().Done():
			return
		}
	}
}

// sseOf is the event data of a delivery.
func sseOf(d delivery) sseMessage {
	m := sseMessage{Topic: d.topic, QoS: d.qos, Retain: d.retain, Encoding: "utf-8", Payload: string(d.payload)}
	if !utf8.Valid(d.payload) {
		m.Encoding, m.Payload = "base64", base64.StdEncoding.EncodeToString(d.payload)
	}
	return m
}

// readPacket reads one packet mochi sent. mochi bounds what it sends, so the
// length is not checked here.
func readPacket(r *bufio.Reader) (packets.Packet, error) {
	pk := packets.Packet{ProtocolVersion: 5}
	first, err := r.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(first); err != nil {
		return pk, err
	}
	if pk.FixedHeader.Remaining, _, err = packets.DecodeLength(r); err != nil {
		return pk, err
	}
	buf := make([]byte, pk.FixedHeader.Remaining)
	if _, err := io.ReadFull(r, buf); err != nil {
		return pk, err
	}
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(buf)
	case packets.Publish:
		err = pk.PublishDecode(buf)
	case packets.Puback:
		err = pk.PubackDecode(buf)
	case packets.Suback:
		err = pk.SubackDecode(buf)
	case packets.Disconnect:
		err = pk.DisconnectDecode(buf)
	}
	return pk, err
}
