package broker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// wsCloseWait bounds the write of a websocket close frame.
const wsCloseWait = time.Second

// wsMaxHeader bounds the HTTP request headers of an upgrade, which Go's
// default would let grow to 1 MiB per connection before any MQTT byte.
const wsMaxHeader = 16 << 10

// errNotBinary ends a WSS session whose client sent a text frame: MQTT over
// websocket is binary only.
var errNotBinary = errors.New("websocket message is not binary")

// peerKey is the context key carrying a WSS connection's peer to the handler.
type peerKey struct{}

// peerConn is a gated TLS connection on its way through the HTTP server.
type peerConn struct {
	net.Conn
	p *peer
}

func (c *peerConn) peer() *peer { return c.p }

// wsFront serves HTTP on connections its gate listener has already
// handshaken and verified, and turns upgrades on the path into MQTT sessions.
// mochi's own websocket listener hides the *tls.Conn, hence this one.
type wsFront struct {
	l         *gateListener
	conns     *connQueue
	srv       *http.Server
	upgrader  websocket.Upgrader
	establish listeners.EstablishFn
	served    sync.WaitGroup
}

func newWSFront(l *gateListener) *wsFront {
	f := &wsFront{l: l, conns: newConnQueue(l.ln.Addr())}
	f.srv = &http.Server{
		Handler:           http.HandlerFunc(f.serveHTTP),
		ReadHeaderTimeout: l.b.handshakeTimeout,
		MaxHeaderBytes:    wsMaxHeader,
		IdleTimeout:       l.b.handshakeTimeout,
		ErrorLog:          slog.NewLogLogger(l.log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if pc, ok := c.(*peerConn); ok {
				return context.WithValue(ctx, peerKey{}, pc.p)
			}
			return ctx
		},
	}
	f.upgrader = websocket.Upgrader{
		HandshakeTimeout: l.b.handshakeTimeout,
		Subprotocols:     []string{"mqtt"},
		// serveHTTP has checked the origin already, to report the refusal.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	return f
}

// start serves HTTP until close; establish is mochi's, kept for upgrades.
func (f *wsFront) start(establish listeners.EstablishFn) {
	f.establish = establish
	f.served.Add(1)
	go func() {
		defer f.served.Done()
		if err := f.srv.Serve(f.conns); err != nil && !errors.Is(err, http.ErrServerClosed) {
			f.l.log.Warn("serve websocket", "error", err)
		}
	}()
}

// deliver queues a handshaken connection for the HTTP server.
func (f *wsFront) deliver(c *peerConn) {
	if !f.conns.put(c) {
		_ = c.Close()
	}
}

// close stops the HTTP server; upgraded sessions are ended by the gate listener.
func (f *wsFront) close() {
	_ = f.srv.Close()
	f.served.Wait()
}

// serveHTTP upgrades a request on the MQTT path and runs the session in the
// handler's goroutine.
func (f *wsFront) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != f.l.b.cfg.WSSPath {
		http.NotFound(w, r)
		return
	}
	p, _ := r.Context().Value(peerKey{}).(*peer)
	if p == nil {
		http.Error(w, "not a gated connection", http.StatusInternalServerError)
		return
	}
	if origin := r.Header.Get("Origin"); !f.originAllowed(origin, r.Host) {
		f.l.b.emit(p.event(EventRefused, ReasonOrigin+": "+origin, ""))
		http.Error(w, "websocket origin not allowed", http.StatusForbidden)
		return
	}
	ws, err := f.upgrader.Upgrade(w, r, nil)
	if err != nil {
		f.l.b.emit(p.event(EventRefused, "bad websocket request", ""))
		return
	}
	c := &wsConn{Conn: ws.UnderlyingConn(), ws: ws, p: p}
	if !f.l.track(p, c) {
		_ = c.Close()
		return
	}
	defer f.l.untrack(p)
	_ = c.SetDeadline(time.Now().Add(f.l.b.handshakeTimeout))
	f.l.establish(f.establish, c, p)
}

// wsConn is one MQTT session over websocket: binary messages as a byte stream.
// Writes come only from mochi's WritePacket, which serialises them.
type wsConn struct {
	net.Conn
	ws *websocket.Conn
	p  *peer
	r  io.Reader // the message being read, nil between messages
}

func (c *wsConn) peer() *peer { return c.p }

// Read reads the payload of the binary messages in order, stopping at a
// packet over the size limit.
func (c *wsConn) Read(b []byte) (int, error) {
	for {
		if c.r == nil {
			op, r, err := c.ws.NextReader()
			var closed *websocket.CloseError
			if errors.As(err, &closed) {
				return 0, io.EOF // a close frame, or none (1006): the stream ended
			}
			if err != nil {
				return 0, err
			}
			if op != websocket.BinaryMessage {
				return 0, errNotBinary
			}
			c.r = r
		}
		n, err := c.r.Read(b)
		if errors.Is(err, io.EOF) {
			c.r = nil
			err = nil
		}
		if n > 0 {
			c.p.bytesIn.Add(uint64(n))
			c.p.touch()
			if k, over := c.p.checkRead(b[:n]); over != nil {
				return k, over
			}
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}

// Write sends b as one binary message.
func (c *wsConn) Write(b []byte) (int, error) {
	if err := c.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
		return 0, err
	}
	c.p.bytesOut.Add(uint64(len(b)))
	c.p.touch()
	return len(b), nil
}

// Close sends a close frame, then closes the TLS connection.
func (c *wsConn) Close() error {
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(wsCloseWait))
	return c.Conn.Close()
}

// originAllowed guards against cross-site WebSocket hijacking: a web page in
// a browser that holds a client certificate must not open MQTT sessions with
// it. Devices send no Origin; browsers may use the broker's own origin or one
// the operator allowed.
func (f *wsFront) originAllowed(origin, host string) bool {
	if origin == "" {
		return true
	}
	for _, o := range f.l.b.cfg.WSSOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, host)
}
