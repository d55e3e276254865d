package broker

import (
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Defaults of the limits that cannot be lifted (the zero value takes them)
// and of the command line's limit flags.
//
// DefaultMaxQueued sizes each session's outbound queue, mochi's channel of
// packets waiting for the session's writer. It is what a subscriber can
// fall behind by before QoS 0 messages to it are dropped: 4096 messages
// are 80 ms of a 50,000 msg/s stream, enough to ride out a writer that the
// scheduler or a GC pause kept off the CPU (1024, 20 ms, lost 0.1-0.4% of a
// paced 40-50k msg/s stream on 2 vCPUs). The cost is bounded both ways: the
// channel takes 8 bytes a slot from connect on (32 KiB a session; mochi's
// 8192 take 64 KiB), and a stalled reader holds at most MaxQueued messages
// (a copy of each: about 1 KiB of packet plus its payload).
const (
	DefaultMaxPacketSize    = 256 << 10
	DefaultMaxInflight      = 256
	DefaultMaxQueued        = 4096
	DefaultMaxMsgRate       = 200
	DefaultMaxByteRate      = 1 << 20
	DefaultMaxSubscriptions = 100
	DefaultMaxConns         = 10000
	DefaultMaxConnsPerIP    = 100
	DefaultMaxKeepalive     = 300
	DefaultMaxRetained      = 10000
	DefaultMaxRetainedBytes = 16 << 20
)

// maxMQTTPacket is the largest packet MQTT can frame: a 4-byte remaining
// length of 268,435,455 plus its fixed header.
const maxMQTTPacket = 268435455 + 5

// Reasons (refused events) and causes (disconnected events) of the limits.
const (
	ReasonPacketTooLarge   = "packet too large"
	ReasonRateLimit        = "rate limit exceeded"
	ReasonReceiveMaximum   = "receive maximum exceeded"
	ReasonTooManySubs      = "too many subscriptions"
	ReasonQueueFull        = "queue full"
	ReasonRetainedFull     = "quota exceeded: message not retained"
	ReasonTooManyConns     = "too many connections"
	reasonTooManyConnsFrom = "too many connections from "
)

// limitEventGap is the least time between two events about the same
// session's non-fatal limit hits (dropped messages, refused subscriptions,
// unretained messages): each hit is counted, the event stream is not flooded.
const limitEventGap = time.Second

// Limits bound what one client, or all of them together, can make the broker
// hold or do. Where a field's zero value means "unlimited", it says so.
type Limits struct {
	// MaxPacketSize is the largest MQTT packet accepted, in bytes, fixed
	// header included; 0 takes DefaultMaxPacketSize. MQTT 5 clients learn it
	// from CONNACK; a larger packet ends the session with DISCONNECT 0x95
	// before its body is read.
	MaxPacketSize int
	// MaxInflight caps a client's unacknowledged QoS 1 and 2 messages in each
	// direction: the Receive Maximum announced in CONNACK (exceeding it:
	// DISCONNECT 0x93) and the messages awaiting its acknowledgement (more are
	// not sent to it). 0 takes DefaultMaxInflight; at most 65535.
	MaxInflight int
	// MaxQueued caps the messages waiting to be written to one client; more
	// are dropped and counted (Session.DroppedOut). 0 takes DefaultMaxQueued.
	MaxQueued int
	// MaxMsgRate and MaxByteRate cap one client's PUBLISH packets and PUBLISH
	// bytes per second, allowing a burst of one second's worth (of at least
	// one largest packet for bytes); exceeding either: DISCONNECT 0x96. 0 = unlimited.
	MaxMsgRate, MaxByteRate int
	// MaxSubscriptions caps one client's subscriptions; filters past it get
	// SUBACK 0x97 (0x80 on MQTT 3.1.1). 0 = unlimited.
	MaxSubscriptions int
	// MaxConns and MaxConnsPerIP cap open connections in total and per source
	// IP, counted from accept; more are closed before the TLS handshake.
	// 0 = unlimited.
	MaxConns, MaxConnsPerIP int
	// MaxKeepalive caps the keep alive in seconds: a client asking for more,
	// or for none, gets this one (MQTT 5: Server Keep Alive in CONNACK) and is
	// dropped after 1.5 times it without a packet. 0 = no cap.
	MaxKeepalive int
	// MaxRetained and MaxRetainedBytes cap the retained messages clients
	// leave, in number and total payload bytes; a retained message past them
	// is delivered but not retained. 0 = unlimited.
	MaxRetained, MaxRetainedBytes int
}

// DefaultLimits returns the limits gatehouse serves with unless told otherwise.
func DefaultLimits() Limits {
	return Limits{
		MaxPacketSize:    DefaultMaxPacketSize,
		MaxInflight:      DefaultMaxInflight,
		MaxQueued:        DefaultMaxQueued,
		MaxMsgRate:       DefaultMaxMsgRate,
		MaxByteRate:      DefaultMaxByteRate,
		MaxSubscriptions: DefaultMaxSubscriptions,
		MaxConns:         DefaultMaxConns,
		MaxConnsPerIP:    DefaultMaxConnsPerIP,
		MaxKeepalive:     DefaultMaxKeepalive,
		MaxRetained:      DefaultMaxRetained,
		MaxRetainedBytes: DefaultMaxRetainedBytes,
	}
}

// Validate reports the first limit out of its range.
func (l Limits) Validate() error {
	checks := []struct {
		name      string
		v, lo, hi int
	}{
		{"max packet size", l.MaxPacketSize, 0, maxMQTTPacket},
		{"max inflight", l.MaxInflight, 0, 65535},
		{"max queued", l.MaxQueued, 0, 65535},
		{"max message rate", l.MaxMsgRate, 0, 1 << 30},
		{"max byte rate", l.MaxByteRate, 0, math.MaxInt32},
		{"max subscriptions", l.MaxSubscriptions, 0, 1 << 30},
		{"max connections", l.MaxConns, 0, 1 << 30},
		{"max connections per IP", l.MaxConnsPerIP, 0, 1 << 30},
		{"max keepalive", l.MaxKeepalive, 0, 65535},
		{"max retained", l.MaxRetained, 0, 1 << 30},
		{"max retained bytes", l.MaxRetainedBytes, 0, math.MaxInt32},
	}
	for _, c := range checks {
		if c.v < c.lo || c.v > c.hi {
			return fmt.Errorf("%s %d: want %d to %d", c.name, c.v, c.lo, c.hi)
		}
	}
	if l.MaxPacketSize != 0 && l.MaxPacketSize < minPacketSize {
		return fmt.Errorf("max packet size %d: want at least %d bytes", l.MaxPacketSize, minPacketSize)
	}
	return nil
}

// minPacketSize keeps a packet size limit from refusing a client's CONNECT.
const minPacketSize = 128

// withDefaults fills the limits that cannot be lifted.
// SetLimits applies new limits to a running broker: rates, subscriptions,
// connection caps, the keep-alive cap and the retained caps take effect at
// once (for new packets and connections; live sessions keep their agreed
// keep alive). The packet size, inflight and queue limits are fixed in the
// broker at start: when l changes them they keep their values and their
// flag names are returned, to say they need a restart.
func (b *Broker) SetLimits(l Limits) ([]string, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	l = l.withDefaults()
	cur := b.limits.Load()
	var restart []string
	for _, f := range []struct {
		name     string
		now, was *int
	}{
		{"max-packet-size", &l.MaxPacketSize, &cur.MaxPacketSize},
		{"max-inflight", &l.MaxInflight, &cur.MaxInflight},
		{"max-queued", &l.MaxQueued, &cur.MaxQueued},
	} {
		if *f.now != *f.was {
			restart = append(restart, f.name)
			*f.now = *f.was
		}
	}
	b.limits.Store(&l)
	return restart, nil
}

func (l Limits) withDefaults() Limits {
	if l.MaxPacketSize == 0 {
		l.MaxPacketSize = DefaultMaxPacketSize
	}
	if l.MaxInflight == 0 {
		l.MaxInflight = DefaultMaxInflight
	}
	if l.MaxQueued == 0 {
		l.MaxQueued = DefaultMaxQueued
	}
	return l
}

// writeBatch is how many bytes of queued packets mochi gathers into one
// write to a session that has fallen behind (Options.ClientNetWriteBufferSize,
// 2 KiB by default): a full TLS record, so a writer catching up pays one
// record and one system call per ~200 small messages rather than per ~25.
// The buffer exists only while packets are queued: an idle session has none.
const writeBatch = 16 << 10

// capabilities applies the limits mochi enforces itself.
func (l Limits) capabilities(caps *mqtt.Capabilities) {
	caps.MaximumPacketSize = uint32(l.MaxPacketSize) // a second guard behind frameGuard
	caps.ReceiveMaximum = uint16(l.MaxInflight)
	caps.MaximumInflight = uint16(l.MaxInflight)
	caps.MaximumClientWritesPending = int32(l.MaxQueued)
}

// peerLimits is one connection's state for the limits. The frame guard and
// the buckets are used only by the connection's reading goroutine.
type peerLimits struct {
	b          *Broker
	guard      frameGuard
	msgs       bucket
	bytes      bucket
	subRefused []int  // SUBSCRIBE filter indexes over the cap, for its SUBACK
	subPacket  uint16 // that SUBSCRIBE's packet id

	retainedRefused atomic.Uint64 // its retained messages not retained
	lastEvent       atomic.Int64  // unix nanoseconds of the last limit event

	// Messages dropped for its full outbound queue (see drops.go).
	droppedOut    atomic.Uint64
	dropsReported atomic.Uint64 // how many of them EventDropped events reported
	dropTimer     atomic.Bool   // a report of further drops is scheduled
}

// frameGuard follows the MQTT packet framing of a byte stream, so that a
// fixed header claiming more than the limit is refused before anything reads
// or allocates its body.
type frameGuard struct {
	max    int
	skip   int // body bytes of the current packet still to pass
	inLen  bool
	length int
	shift  uint
	nLen   int  // remaining length bytes read
	over   bool // a packet over the limit was seen: the stream ends there
}

// scan passes b through the framing and returns how many of its bytes may be
// handed on: all of them, unless b completes the fixed header of a packet
// over the limit; then those before that header (earlier reads may have
// passed its first bytes, never its body), and true.
func (g *frameGuard) scan(b []byte) (int, bool) {
	if g.over {
		return 0, true
	}
	head := 0 // where the current fixed header starts within b
	for i := 0; i < len(b); {
		if g.skip > 0 {
			k := min(g.skip, len(b)-i)
			g.skip -= k
			i += k
			continue
		}
		c := b[i]
		i++
		if !g.inLen { // the packet type byte
			head = i - 1
			g.inLen, g.length, g.shift, g.nLen = true, 0, 0, 0
			continue
		}
		g.length |= int(c&0x7f) << g.shift
		g.shift += 7
		g.nLen++
		if c&0x80 != 0 {
			if g.nLen == 4 { // malformed: mochi refuses it
				g.inLen = false
			}
			continue
		}
		g.inLen = false
		if 1+g.nLen+g.length > g.max {
			g.over = true
			return head, true
		}
		g.skip = g.length
	}
	return len(b), false
}

// checkRead runs the frame guard over the bytes a Read returned and ends
// the connection, once, at a packet over the limit.
func (p *peer) checkRead(b []byte) (int, error) {
	first := !p.lim.guard.over
	n, over := p.lim.guard.scan(b)
	if !over {
		return n, nil
	}
	if first {
		p.lim.b.packetTooLarge(p)
	}
	return n, packets.ErrPacketTooLarge
}

// packetTooLarge ends p for a packet over the limit: a session with
// DISCONNECT 0x95 (MQTT 5) and that cause, a connection before CONNECT with
// a refused event.
func (b *Broker) packetTooLarge(p *peer) {
	b.idx.mu.Lock()
	cl := p.cl
	if p.live && p.cause == "" {
		p.cause = ReasonPacketTooLarge
	}
	b.idx.mu.Unlock()
	if cl == nil {
		b.emit(p.event(EventRefused, ReasonPacketTooLarge, ""))
		return
	}
	if cl.Properties.ProtocolVersion == 5 {
		b.drop(cl, packets.ErrPacketTooLarge)
	}
}

// bucket is a token bucket refilled at rate tokens per second up to burst.
type bucket struct {
	tokens float64
	last   int64 // unix nanoseconds; 0 before the first take
}

// take removes n tokens if the bucket holds them.
func (k *bucket) take(now int64, rate, burst, n float64) bool {
	if k.last == 0 {
		k.tokens = burst
	} else {
		k.tokens = min(burst, k.tokens+float64(now-k.last)*rate/float64(time.Second))
	}
	k.last = now
	if k.tokens < n {
		return false
	}
	k.tokens -= n
	return true
}

// connLimiter counts open connections, in total and per source IP.
type connLimiter struct {
	mu    sync.Mutex
	total int
	perIP map[string]int
	// lastEvent (unix nanoseconds) spaces the refused events of a connection
	// flood: each refusal costs the flooder a TCP handshake, but its event
	// would cost the broker far more, so at most one per limitEventGap.
	lastEvent atomic.Int64
}

// acquire counts a new connection from ip, or returns why it may not open.
func (b *Broker) acquire(ip string) string {
	c := &b.conns
	c.mu.Lock()
	defer c.mu.Unlock()
	if max := b.limits.Load().MaxConns; max > 0 && c.total >= max {
		return ReasonTooManyConns
	}
	if max := b.limits.Load().MaxConnsPerIP; max > 0 && c.perIP[ip] >= max {
		return reasonTooManyConnsFrom + ip
	}
	c.total++
	c.perIP[ip]++
	return ""
}

func (b *Broker) release(ip string) {
	c := &b.conns
	c.mu.Lock()
	c.total--
	if c.perIP[ip]--; c.perIP[ip] <= 0 {
		delete(c.perIP, ip)
	}
	c.mu.Unlock()
}

// countedConn is an accepted connection counted by the connection limits
// until it is closed, on whichever path that happens.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close closes the connection and releases its count once.
func (c *countedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// admitConn counts an accepted connection, or refuses it with an event.
func (l *gateListener) admitConn(conn net.Conn) (net.Conn, bool) {
	ip := conn.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(ip); err == nil {
		ip = host
	}
	if reason := l.b.acquire(ip); reason != "" {
		_ = conn.Close()
		if spaced(&l.b.conns.lastEvent, time.Now()) {
			l.b.emit(newPeer(l.name, conn).event(EventRefused, reason, ""))
		}
		return nil, false
	}
	return &countedConn{Conn: conn, release: func() { l.b.release(ip) }}, true
}

// limitHook enforces the limits mochi does not, apart from the two on every
// message's path, the publish rate and the retained caps, which the gate
// hook applies (withinRate, capRetained) so that mochi calls one hook fewer
// per message.
type limitHook struct {
	mqtt.HookBase
	b *Broker
}

// ID names the hook in mochi's logs.
func (h *limitHook) ID() string { return "gatehouse-limits" }

// Provides lists the hook methods mochi should call.
func (h *limitHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnect, mqtt.OnPacketEncode, mqtt.OnSubscribe, mqtt.OnPublishDropped, mqtt.OnDisconnect:
		return true
	}
	return false
}

// OnConnect caps the keep alive the client asked for; mochi sets the read
// deadline from it and, when ServerKeepalive is set, announces it in CONNACK.
func (h *limitHook) OnConnect(cl *mqtt.Client, _ packets.Packet) error {
	if max := uint16(h.b.limits.Load().MaxKeepalive); max > 0 && (cl.State.Keepalive == 0 || cl.State.Keepalive > max) {
		cl.State.Keepalive = max
		cl.State.ServerKeepalive = true
	}
	return nil
}

// withinRate reports whether a PUBLISH of size bytes (its remaining length)
// keeps p within its message and byte rates; a PUBLISH over either ends the
// session with DISCONNECT 0x96. It runs on the client's reading goroutine.
func (b *Broker) withinRate(cl *mqtt.Client, p *peer, size int) bool {
	l := b.limits.Load()
	if l.MaxMsgRate == 0 && l.MaxByteRate == 0 {
		return true
	}
	now := time.Now().UnixNano()
	ok := l.MaxMsgRate == 0 || p.lim.msgs.take(now, float64(l.MaxMsgRate), float64(l.MaxMsgRate), 1)
	if ok && l.MaxByteRate > 0 {
		burst := float64(max(l.MaxByteRate, l.MaxPacketSize))
		ok = p.lim.bytes.take(now, float64(l.MaxByteRate), burst, float64(size))
	}
	if ok {
		return true
	}
	b.setCause(p, ReasonRateLimit)
	b.drop(cl, packets.ErrMessageRateTooHigh)
	return false
}

// OnSubscribe refuses the filters that would take the client past
// MaxSubscriptions: mochi rejects an empty filter without subscribing, and
// OnPacketEncode puts the quota code in their place in the SUBACK.
func (h *limitHook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	max := h.b.limits.Load().MaxSubscriptions
	p := peerOf(cl)
	if max == 0 || p == nil {
		return pk
	}
	p.lim.subRefused, p.lim.subPacket = p.lim.subRefused[:0], pk.PacketID
	n := cl.State.Subscriptions.Len()
	for i, sub := range pk.Filters {
		if _, ok := cl.State.Subscriptions.Get(sub.Filter); ok {
			continue
		}
		if n < max {
			n++
			continue
		}
		pk.Filters[i].Filter = ""
		p.lim.subRefused = append(p.lim.subRefused, i)
	}
	if len(p.lim.subRefused) > 0 {
		h.b.limitEvent(p, ReasonTooManySubs, cl.ID)
	}
	return pk
}

// OnPacketEncode announces the maximum packet size in CONNACK and puts the
// quota code in the SUBACK of the filters OnSubscribe refused.
func (h *limitHook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	switch pk.FixedHeader.Type {
	case packets.Connack:
		pk.Properties.MaximumPacketSize = uint32(h.b.limits.Load().MaxPacketSize)
	case packets.Suback:
		p := peerOf(cl)
		if p == nil || len(p.lim.subRefused) == 0 || p.lim.subPacket != pk.PacketID {
			return pk
		}
		code := packets.ErrQuotaExceeded.Code
		if cl.Properties.ProtocolVersion < 5 {
			code = packets.ErrUnspecifiedError.Code
		}
		for _, i := range p.lim.subRefused {
			if i < len(pk.ReasonCodes) {
				pk.ReasonCodes[i] = code
			}
		}
		p.lim.subRefused = p.lim.subRefused[:0]
	}
	return pk
}

// capRetained keeps a retained message from being retained when it would
// take the retained store past MaxRetained or MaxRetainedBytes; it is still
// delivered. An empty retained payload deletes, and is always allowed. p is
// nil for a connection the broker did not accept.
func (b *Broker) capRetained(cl *mqtt.Client, p *peer, pk *packets.Packet) {
	l := b.limits.Load()
	r := &b.retained
	r.mu.Lock()
	old, had := r.byTopic[pk.TopicName]
	n := len(pk.Payload)
	switch {
	case n == 0:
		r.forgetLocked(pk.TopicName)
	case (l.MaxRetained > 0 && !had && len(r.byTopic) >= l.MaxRetained) ||
		(l.MaxRetainedBytes > 0 && r.bytes-old.size+n > l.MaxRetainedBytes):
		pk.FixedHeader.Retain = false
	default:
		r.bytes += n - old.size
		old.size = n
		r.byTopic[pk.TopicName] = old // who set it is filled in by the retain hook
	}
	r.mu.Unlock()
	if !pk.FixedHeader.Retain && p != nil {
		p.lim.retainedRefused.Add(1)
		b.limitEvent(p, ReasonRetainedFull, cl.ID)
	}
}

// OnDisconnect names mochi's own receive maximum disconnect; it runs before
// the gate hook ends the session with the recorded cause.
func (h *limitHook) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	if p := peerOf(cl); p != nil && errors.Is(err, packets.ErrReceiveMaximum) {
		h.b.setCause(p, ReasonReceiveMaximum)
	}
}

// setCause records why the broker ends p's session, unless it already did.
func (b *Broker) setCause(p *peer, cause string) {
	b.idx.mu.Lock()
	if p.live && p.cause == "" {
		p.cause = cause
	}
	b.idx.mu.Unlock()
}

// limitEvent emits a refused event about a non-fatal limit hit of p's
// session, at most one per limitEventGap.
func (b *Broker) limitEvent(p *peer, reason, clientID string) {
	if spaced(&p.lim.lastEvent, time.Now()) {
		b.emit(p.event(EventRefused, reason, clientID))
	}
}

// spaced reports whether an event may go out now, at least limitEventGap
// after the last one recorded in last, and records it.
func spaced(last *atomic.Int64, now time.Time) bool {
	prev := last.Load()
	return now.UnixNano()-prev >= int64(limitEventGap) && last.CompareAndSwap(prev, now.UnixNano())
}
