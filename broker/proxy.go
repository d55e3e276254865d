package broker

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/pires/go-proxyproto"
)

// proxied reports whether this listener reads PROXY headers: a TLS
// listener of a broker configured with Config.ProxyFrom. Only connections
// from those networks are read for one; any other connection is served as
// without the PROXY protocol, counted against the limits at once, and a
// header it sends (a device choosing its own address) fails its TLS
// handshake.
func (l *gateListener) proxied() bool { return l.tlsConf != nil && len(l.b.cfg.ProxyFrom) > 0 }

// admitProxied reads the PROXY header of a connection from a trusted
// proxy, on its own goroutine, and admits it under the address the header
// gives. The connection is tracked meanwhile, so Close ends a header still
// awaited.
func (l *gateListener) admitProxied(raw net.Conn, establish listeners.EstablishFn) {
	hold := newPeer(l.name, raw)
	if !l.track(hold, raw) {
		_ = raw.Close()
		return
	}
	conn, err := l.readProxyHeader(raw)
	l.untrack(hold)
	if err != nil {
		_ = raw.Close()
		if !l.isClosed() {
			l.b.emit(hold.event(EventRefused, "proxy protocol: "+err.Error(), ""))
		}
		return
	}
	l.admit(conn, establish)
}

// readProxyHeader requires a PROXY header (v1 or v2) within the handshake
// timeout.
func (l *gateListener) readProxyHeader(raw net.Conn) (net.Conn, error) {
	pc := proxyproto.NewConn(raw, proxyproto.WithPolicy(proxyproto.REQUIRE), proxyproto.SetReadHeaderTimeout(l.b.handshakeTimeout))
	// A read of nothing makes the header be read and judged now, not in
	// the TLS handshake, where its error would read as a TLS one.
	if _, err := pc.Read(nil); err != nil {
		return nil, fmt.Errorf("from a trusted proxy: %w", err)
	}
	return pc, nil
}

// proxyTrusted reports whether addr is in Config.ProxyFrom.
func (b *Broker) proxyTrusted(addr net.Addr) bool {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range b.cfg.ProxyFrom {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
