package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// acceptBackoff is how long the accept loop waits after a transient error
// such as running out of file descriptors.
const acceptBackoff = 50 * time.Millisecond

// clientReadBuffer is the size of the buffer mochi reads each session's MQTT
// packets through, held for the whole session (mochi's default is 2 KiB).
// Under TLS it only copies out of the record Go has already decrypted, and a
// packet body larger than it is read straight into the packet, so halving it
// saves a KiB per idle connection and costs extra Read calls only on
// streams of small packets.
const clientReadBuffer = 1 << 10

// gateListener implements mochi's listeners.Listener for one transport. It
// owns the socket, so every TLS handshake and refusal passes through it; each
// connection gets its own goroutine and the accept loop never waits on one.
type gateListener struct {
	b          *Broker
	name       string
	ln         net.Listener
	tlsConf    *tls.Config // nil for plain MQTT
	tickets    ticketKeys  // tlsConf's session ticket keys
	nextProtos []string
	ws         *wsFront    // nil unless this is the WSS transport
	https      *httpsFront // nil unless this is the HTTPS transport
	log        *slog.Logger
	done       chan struct{}

	mu     sync.Mutex
	closed bool
	conns  map[*peer]io.Closer // connections in a handshake or a session
	wg     sync.WaitGroup      // their goroutines
}

var _ listeners.Listener = (*gateListener)(nil)

// listen binds addr for transport name. The error names both, e.g.
// "listen mqtts :8883: address already in use".
func listen(b *Broker, name, addr string) (*gateListener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s %s: %w", name, addr, bindCause(err))
	}
	l := &gateListener{
		b:     b,
		name:  name,
		ln:    ln,
		log:   b.log.With("transport", name),
		done:  make(chan struct{}),
		conns: map[*peer]io.Closer{},
	}
	if name != TransportMQTT {
		l.tlsConf = l.tlsConfig()
		l.tickets.rotate(l.tlsConf, time.Now())
	}
	if name == TransportWSS {
		l.nextProtos = []string{"http/1.1"}
		l.ws = newWSFront(l)
	}
	if name == TransportHTTPS {
		l.nextProtos = []string{"http/1.1"}
		l.https = newHTTPSFront(l)
	}
	return l, nil
}

// bindCause strips the "listen tcp ADDR: bind:" layers net.Listen adds.
func bindCause(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		var sys *os.SyscallError
		if errors.As(op.Err, &sys) {
			return sys.Err
		}
		return op.Err
	}
	return err
}

// ID returns the transport name; mochi stores it as each client's listener.
func (l *gateListener) ID() string { return l.name }

// Address returns the bound address, with the real port when :0 was asked.
func (l *gateListener) Address() string { return l.ln.Addr().String() }

// Protocol returns the transport name.
func (l *gateListener) Protocol() string { return l.name }

// Init does nothing: Broker.Start binds every socket before mochi sees any
// listener, so a busy port fails Start with its address.
func (l *gateListener) Init(*slog.Logger) error { return nil }

// Serve accepts connections until Close.
func (l *gateListener) Serve(establish listeners.EstablishFn) {
	if l.ws != nil {
		l.mu.Lock()
		if !l.closed { // Close waits for the HTTP server only if it started
			l.ws.start(establish)
		}
		l.mu.Unlock()
	}
	if l.https != nil {
		l.mu.Lock()
		if !l.closed {
			l.https.start(establish)
		}
		l.mu.Unlock()
	}
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || l.isClosed() {
				return
			}
			l.log.Warn("accept", "error", err)
			select {
			case <-l.done:
				return
			case <-time.After(acceptBackoff):
			}
			continue
		}
		if l.proxied() && l.b.proxyTrusted(conn.RemoteAddr()) {
			go l.admitProxied(conn, establish) // the header is read off the accept loop
			continue
		}
		if !l.admit(conn, establish) {
			return
		}
	}
}

// admit counts an accepted connection against the limits and starts its
// goroutine; false once the listener is closed.
func (l *gateListener) admit(conn net.Conn, establish listeners.EstablishFn) bool {
	conn, ok := l.admitConn(conn)
	if !ok {
		return true
	}
	p := newPeer(l.name, conn)
	p.lim.b, p.lim.guard.max = l.b, l.b.limits.Load().MaxPacketSize
	if !l.track(p, conn) {
		_ = conn.Close()
		return false
	}
	go l.handle(p, conn, establish)
	return true
}

// handle runs one connection: gate, then MQTT (or HTTP for WSS). It untracks
// the connection on every path, exactly once.
func (l *gateListener) handle(p *peer, raw net.Conn, establish listeners.EstablishFn) {
	if l.tlsConf == nil {
		// Bound the wait for CONNECT; mochi sets the keepalive deadline after.
		_ = raw.SetDeadline(time.Now().Add(l.b.handshakeTimeout))
		l.establish(establish, &meteredConn{Conn: raw, p: p}, p)
		l.untrack(p)
		return
	}
	start := time.Now()
	conn, reason := l.handshake(p, raw)
	if h := l.b.cfg.OnHandshake; h != nil {
		h(l.name, time.Since(start), conn != nil && p.refusal == "")
	}
	if conn == nil {
		_ = raw.Close()
		if reason != "" && !l.isClosed() {
			l.b.emit(p.event(EventRefused, reason, ""))
		}
		l.untrack(p)
		return
	}
	// A fresh deadline bounds the wait for CONNECT (or the HTTP upgrade);
	// mochi replaces it with the keepalive deadline once CONNECT is read.
	_ = conn.SetDeadline(time.Now().Add(l.b.handshakeTimeout))
	if l.https != nil {
		// The HTTPS front answers a refusal the gate deferred (see
		// refuse) and tracks the connection again once it holds a
		// session, as the websocket server does.
		if p.refusal != "" {
			l.b.emit(p.event(EventRefused, p.refusal, ""))
		}
		l.untrack(p)
		l.https.deliver(&peerConn{Conn: conn, p: p})
		return
	}
	if l.ws != nil {
		// The websocket server tracks the session under the same peer once
		// upgraded; untracking first keeps this goroutine from deleting that
		// entry. A Close in between is safe: deliver and the upgrade refuse
		// once the listener is closed.
		l.untrack(p)
		l.ws.deliver(&peerConn{Conn: conn, p: p})
		return
	}
	l.establish(establish, &meteredConn{Conn: conn, p: p}, p)
	l.untrack(p)
}

// establish hands a gated connection to mochi and returns when its session
// ends. mochi skips OnDisconnect when CONNACK cannot be written; ending the
// session here too keeps the index exact.
func (l *gateListener) establish(establish listeners.EstablishFn, c net.Conn, p *peer) {
	if err := establish(l.name, c); err != nil {
		l.log.Debug("session ended", "remote", p.remote, "error", err)
	}
	l.b.endSession(p, CauseClientClosed)
}

// track registers a connection so Close can end it; false once closed.
func (l *gateListener) track(p *peer, c io.Closer) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.conns[p] = c
	l.wg.Add(1)
	return true
}

func (l *gateListener) untrack(p *peer) {
	l.mu.Lock()
	delete(l.conns, p)
	l.mu.Unlock()
	l.wg.Done()
}

func (l *gateListener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Close stops accepting, ends every connection of this transport and waits
// for their goroutines, so mochi's client wait group is idle when it waits.
// Sessions get a DISCONNECT "server shutting down"; connections still in a
// handshake or before CONNECT are closed. It does not use mochi's closeClients:
// Clients.GetByListener read-locks twice and can deadlock with a connecting
// client.
func (l *gateListener) Close(listeners.CloseFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	open := make(map[*peer]io.Closer, len(l.conns))
	for p, c := range l.conns {
		open[p] = c
	}
	l.mu.Unlock()

	close(l.done)
	_ = l.ln.Close()
	if l.ws != nil {
		l.ws.close()
	}
	if l.https != nil {
		l.https.close()
	}
	for p, c := range open {
		if cl := l.b.clientOf(p); cl != nil {
			l.b.drop(cl, packets.ErrServerShuttingDown)
		}
		_ = c.Close()
	}
	l.wg.Wait()
}
