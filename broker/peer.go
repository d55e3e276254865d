package broker

import (
	"crypto/x509"
	"net"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/gatehouse/gatehouse/broker/policy"
)

// peer is everything the broker knows about one accepted connection, from
// the TLS handshake to the end of its MQTT session. It travels with the
// net.Conn handed to mochi, so hooks find it from cl.Net.Conn without a lookup.
type peer struct {
	transport string
	remote    string
	host      string // remote without the port

	// Identity, written by VerifyConnection in the handshake goroutine before
	// the connection reaches mochi; read-only afterwards.
	serial   string              // empty: no client certificate
	certID   string              // serial and issuer (Session.CertID); empty with serial
	chain    []*x509.Certificate // as presented, leaf first; for Broker.Recheck
	cn       string
	issuer   string // the issuing CA's common name, for explanations (ca:NAME rules match certID's issuer hash)
	notAfter time.Time
	refusal  string // reason VerifyConnection refused the handshake

	// The token, written by the gate hook's OnConnect (or on HTTPS by
	// httpsFront.bearer) before the session registers; read-only
	// afterwards. sub is empty without a token.
	sub      string
	jti      string
	tokenExp time.Time
	token    string // as presented, for Broker.RecheckTokens; never logged

	// dropped is set when the broker decides to close the session: from then
	// on nothing the client sends is processed (see gateHook.OnPacketRead).
	dropped atomic.Bool

	// Counters, updated by the client's own goroutines.
	msgsIn, msgsOut   atomic.Uint64
	bytesIn, bytesOut atomic.Uint64
	lastActivity      atomic.Int64 // unix nanoseconds
	lim               peerLimits

	// acl is the policy compiled for this session; rebuilt when the broker's
	// policy is swapped. Read by the client's goroutine and by publishers'.
	acl    atomic.Pointer[policy.Session]
	denies denyLimiter

	// Guarded by the broker's index.mu.
	cl          *mqtt.Client
	clientID    string
	connectedAt time.Time
	live        bool   // in the index now
	registered  bool   // was in the index once: its end is a "disconnected" event
	ended       bool   // that event was emitted
	cause       string // why the broker closed it; empty when it did not
}

func newPeer(transport string, c net.Conn) *peer {
	p := &peer{transport: transport, remote: c.RemoteAddr().String()}
	p.host, _, _ = net.SplitHostPort(p.remote)
	p.touch()
	return p
}

// principal names who holds a session, for client-ID ownership: the
// certificate, else the token's subject, or for a client with neither its
// remote IP. Anonymous clients
// on different hosts are different principals, so one cannot take over (or
// inherit the persistent session of) another's client ID; a device
// reconnecting from its own address still takes over its stale session.
// Clients behind one NAT or proxy share an address and so a principal.
func (p *peer) principal() string {
	if p.certID != "" {
		return "cert:" + p.certID
	}
	if p.sub != "" {
		return "jwt:" + p.sub
	}
	return "anonymous@" + p.host
}

func (p *peer) touch() { p.lastActivity.Store(time.Now().UnixNano()) }

// session snapshots p; the caller holds index.mu.
func (p *peer) session() Session {
	return Session{
		ClientID:        p.clientID,
		Serial:          p.serial,
		CertID:          p.certID,
		CN:              p.cn,
		Credential:      p.credential(),
		Subject:         p.sub,
		Transport:       p.transport,
		Remote:          p.remote,
		ConnectedAt:     p.connectedAt,
		MsgsIn:          p.msgsIn.Load(),
		MsgsOut:         p.msgsOut.Load(),
		BytesIn:         p.bytesIn.Load(),
		BytesOut:        p.bytesOut.Load(),
		LastActivity:    time.Unix(0, p.lastActivity.Load()),
		DroppedOut:      p.lim.droppedOut.Load(),
		RetainedRefused: p.lim.retainedRefused.Load(),
	}
}

// event returns an event of type typ about p. Safe without index.mu only for
// the identity fields; clientID is passed in by callers that read it locked.
func (p *peer) event(typ, reason, clientID string) Event {
	e := Event{
		At:        time.Now(),
		Type:      typ,
		Reason:    reason,
		ClientID:  clientID,
		Serial:    p.serial,
		CertID:    p.certID,
		CN:        p.cn,
		Remote:    p.remote,
		Transport: p.transport,
		Subject:   p.sub,
	}
	if typ == EventConnected || typ == EventDisconnected {
		e.Credential = p.credential() // a refusal's credential was not accepted: none named
	}
	return e
}

// credential names how p authenticated (Session.Credential).
func (p *peer) credential() string {
	switch {
	case p.certID != "" && p.sub != "":
		return CredentialCertJWT
	case p.certID != "":
		return CredentialCert
	case p.sub != "":
		return CredentialJWT
	}
	return CredentialAnonymous
}

// peered is implemented by every net.Conn the broker hands to mochi.
type peered interface{ peer() *peer }

// peerOf returns the peer behind a mochi client, or nil for a connection the
// broker did not accept (there are none unless someone adds a listener).
func peerOf(cl *mqtt.Client) *peer {
	switch c := cl.Net.Conn.(type) {
	case *meteredConn: // mqtts and mqtt: a type compare, cheaper than the interface assertion on every hook call
		return c.p
	case peered:
		return c.peer()
	}
	return nil
}

// meteredConn is the MQTT stream of an mqtts or plain mqtt session: it counts
// bytes and records activity for its peer.
type meteredConn struct {
	net.Conn
	p *peer
}

func (c *meteredConn) peer() *peer { return c.p }

// Read counts the MQTT bytes received and stops at a packet over the size limit.
func (c *meteredConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.p.bytesIn.Add(uint64(n))
		c.p.touch()
		if k, over := c.p.checkRead(b[:n]); over != nil {
			return k, over
		}
	}
	return n, err
}

// Write counts the MQTT bytes sent.
func (c *meteredConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if n > 0 {
		c.p.bytesOut.Add(uint64(n))
		c.p.touch()
	}
	return n, err
}

// replayConn returns the byte peeked before the TLS handshake, then reads on.
// It carries the peer so GetConfigForClient can bind VerifyConnection to it.
type replayConn struct {
	net.Conn
	head []byte
	p    *peer
}

func (c *replayConn) peer() *peer { return c.p }

// Read serves the peeked bytes first.
func (c *replayConn) Read(b []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(b, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}
