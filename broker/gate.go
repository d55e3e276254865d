package broker

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Refusal reasons the gate produces itself. The Authorizer supplies the
// certificate ones ("expired", "suspended", "revoked", "unknown CA", ...).
const (
	ReasonNoClientCert     = "no client certificate"
	ReasonPlaintextMQTT    = "plaintext MQTT on TLS port"
	ReasonNotTLS           = "not TLS"
	ReasonHandshakeTimeout = "handshake timeout"
	ReasonBadSignature     = "bad signature"
	// ReasonOrigin refuses a browser WebSocket from a web origin the operator
	// did not allow (--wss-origin).
	ReasonOrigin = "websocket origin not allowed"
	// ReasonClientIDTaken refuses a CONNECT whose client ID belongs to a live
	// session of another certificate: MQTT's takeover would otherwise let any
	// trusted device kick out any other by reusing its client ID.
	ReasonClientIDTaken = "client id in use by another certificate"
	// ReasonClientIDInUse refuses a CONNECT whose client ID belongs to a live
	// session of another principal when one of them has no certificate: an
	// anonymous client on another host, or a certificate against an
	// anonymous session (see peer.principal).
	ReasonClientIDInUse = "client id in use by another client"
)

// clientIDRefusal is the reason cur may not take over owner's client ID.
func clientIDRefusal(owner, cur *peer) string {
	if owner.serial != "" && cur.serial != "" {
		return ReasonClientIDTaken
	}
	return ReasonClientIDInUse
}

// TLS record and MQTT packet bytes seen first on a connection.
const (
	tlsHandshakeRecord = 0x16
	mqttConnectPacket  = 0x10
)

// errNoClientCert fails a handshake when client-cert auth is on and the
// client presented none.
var errNoClientCert = errors.New("client-cert auth is on and no client certificate was presented")

// reasoner is implemented by the Authorizer's errors.
type reasoner interface{ Reason() string }

// reasonOf returns the operator-readable reason of an Authorizer error.
func reasonOf(err error) string {
	var r reasoner
	if errors.As(err, &r) && r.Reason() != "" {
		return r.Reason()
	}
	return err.Error()
}

// classify names what the first byte of a connection says it is. An empty
// result means a TLS handshake record.
func classify(first byte) string {
	switch first {
	case tlsHandshakeRecord:
		return ""
	case mqttConnectPacket:
		return ReasonPlaintextMQTT
	default:
		return ReasonNotTLS
	}
}

// tls12Suites are the only TLS 1.2 cipher suites the gate accepts: ECDHE key
// exchange (forward secrecy) with an AEAD cipher; no CBC, no SHA-1 MACs, no
// static RSA key exchange. Go does not let TLS 1.3 suites be configured: they
// are all AEAD with ephemeral key exchange.
var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// tlsConfig is the listener's base configuration: every handshake gets its
// own configuration from configFor, bound to that connection's peer. The
// base holds the session ticket keys (see ticketKeys).
func (l *gateListener) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		CipherSuites:       tls12Suites,
		GetConfigForClient: l.configFor,
	}
}

// configFor builds the configuration of one handshake. It always requests a
// client certificate and leaves the decision to VerifyConnection, which reads
// the transport's mode there: Go's own "required" failure carries no reason
// we could report. Session resumption is on: Go runs VerifyConnection on
// resumed handshakes too, with the certificates the ticket carries, so a
// resumed session is decided on the current state, trust and mode exactly as
// a full handshake is; only the certificate signatures and the parsing of
// the client's certificates are saved.
func (l *gateListener) configFor(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	pc, ok := hello.Conn.(peered)
	if !ok {
		return nil, fmt.Errorf("gate %s: unexpected connection type %T", l.name, hello.Conn)
	}
	l.tickets.rotate(l.tlsConf, time.Now())
	p := pc.peer()
	conf := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   tls12Suites,
		GetCertificate: l.b.cfg.GetCertificate,
		ClientAuth:     tls.RequestClientCert,
		NextProtos:     l.nextProtos,
	}
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		err := l.verify(p, cs)
		if p.refusal != "" {
			// A refused handshake that HTTPS completes to answer it gets no
			// session ticket: TLS 1.3 sends tickets after the client's
			// certificate is verified, reading this handshake's own config.
			// (TLS 1.2 promises a ticket in its ServerHello, before the
			// certificate; a resumption is verified anew anyway.)
			conf.SessionTicketsDisabled = true
		}
		return err
	}
	return conf, nil
}

// ticketKeyPeriod is how long one session ticket key issues tickets. It is
// kept one period more to decrypt them, so a ticket resumes for at most two
// periods; then the client makes a full handshake.
const ticketKeyPeriod = time.Hour

// ticketKeys rotates a listener's session ticket keys: random, held in memory
// only (a restart invalidates every ticket), replaced every ticketKeyPeriod.
// It replaces Go's automatic keys, which issue tickets for a day and accept
// them for a week.
type ticketKeys struct {
	next      atomic.Int64 // unix nanoseconds of the next rotation
	mu        sync.Mutex   // serialises rotations
	cur, prev [32]byte
}

// rotate installs a fresh key in conf when the current one is due. Rotations
// keep a grid of ticketKeyPeriod: the previous key, whose tickets were all
// issued before it was due (every handshake calls rotate first), decrypts
// until one period after that, so no ticket lives more than two periods.
func (k *ticketKeys) rotate(conf *tls.Config, now time.Time) {
	if now.UnixNano() < k.next.Load() {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	due := k.next.Load()
	if now.UnixNano() < due {
		return
	}
	next := now.Add(ticketKeyPeriod).UnixNano()
	k.prev = [32]byte{}
	if due != 0 && now.UnixNano()-due < int64(ticketKeyPeriod) {
		k.prev, next = k.cur, due+int64(ticketKeyPeriod)
	}
	rand.Read(k.cur[:]) // never fails: crypto/rand aborts the program instead
	keys := [][32]byte{k.cur}
	if k.prev != ([32]byte{}) {
		keys = append(keys, k.prev)
	}
	conf.SetSessionTicketKeys(keys)
	k.next.Store(next)
}

// verify is VerifyConnection: it records the identity and, on refusal, the
// reason in the peer, before any MQTT byte is read. It runs before the client
// has proved it holds the key, so the Authorizer only reads here; see
// firstUse.
func (l *gateListener) verify(p *peer, cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		if l.b.certRequired(l.name) {
			p.refusal = ReasonNoClientCert
			return l.refuse(errNoClientCert)
		}
		return nil
	}
	leaf := cs.PeerCertificates[0]
	p.chain = cs.PeerCertificates
	p.serial = serialHex(leaf.SerialNumber)
	p.certID = certID(p.serial, leaf.RawIssuer)
	p.cn = leaf.Subject.CommonName
	p.issuer = leaf.Issuer.CommonName
	p.notAfter = leaf.NotAfter
	if err := l.b.cfg.Authorizer.Check(cs.PeerCertificates); err != nil {
		p.refusal = reasonOf(err)
		return l.refuse(fmt.Errorf("client certificate %s (%s): %w", p.serial, p.cn, err))
	}
	return nil
}

// refuse returns the error that fails a refused handshake, or nil on the
// HTTPS transport, which completes it to answer the refusal (p.refusal) as
// HTTP 401 or 403: a TLS alert tells a device nothing. Nothing is served to
// such a connection but that answer.
func (l *gateListener) refuse(err error) error {
	if l.https != nil {
		return nil
	}
	return err
}

// handshake peeks the first byte, then runs the TLS handshake within the
// handshake timeout. It returns the established connection, or the reason it
// refused; both empty means the client went away before saying anything. On
// HTTPS a refused connection is returned too, with the reason in p.refusal.
func (l *gateListener) handshake(p *peer, raw net.Conn) (*tls.Conn, string) {
	deadline := time.Now().Add(l.b.handshakeTimeout)
	if err := raw.SetDeadline(deadline); err != nil {
		return nil, ""
	}
	var first [1]byte
	if _, err := io.ReadFull(raw, first[:]); err != nil {
		if isTimeout(err) {
			return nil, ReasonHandshakeTimeout
		}
		return nil, ""
	}
	if reason := classify(first[0]); reason != "" {
		return nil, reason
	}
	conn := tls.Server(&replayConn{Conn: raw, head: first[:], p: p}, l.tlsConf)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := conn.HandshakeContext(ctx); err != nil {
		if p.refusal != "" {
			return nil, p.refusal
		}
		return nil, handshakeReason(err)
	}
	if p.refusal != "" { // deferred by refuse: no first use
		return conn, ""
	}
	if reason := l.firstUse(conn.ConnectionState()); reason != "" {
		if l.https != nil {
			p.refusal = reason
			return conn, ""
		}
		return nil, reason
	}
	return conn, ""
}

// firstUse hands a completed handshake's certificate to Authorizer.FirstUse:
// the CertificateVerify signature is checked by now, so the client holds the
// key and first-use writes may happen. It returns the refusal reason or "".
func (l *gateListener) firstUse(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return ""
	}
	if err := l.b.cfg.Authorizer.FirstUse(cs.PeerCertificates); err != nil {
		return reasonOf(err)
	}
	return ""
}

// handshakeReason maps a handshake error that VerifyConnection did not explain.
func handshakeReason(err error) string {
	msg := err.Error()
	switch {
	case isTimeout(err):
		return ReasonHandshakeTimeout
	case strings.Contains(msg, "invalid signature by the client certificate"):
		return ReasonBadSignature
	case strings.Contains(msg, "unsupported versions"), strings.Contains(msg, "protocol version not supported"):
		return "unsupported TLS version"
	case strings.HasPrefix(msg, "remote error: "):
		return "client aborted handshake: " + strings.TrimPrefix(msg, "remote error: ")
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return "client aborted handshake"
	default:
		return "TLS handshake failed: " + msg
	}
}

// isTimeout reports a deadline or context timeout.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// certID is store.CertID, repeated as serialHex is: the serial, "/", and the
// first 16 hex digits of the SHA-256 of the issuer's DER name.
func certID(serial string, rawIssuer []byte) string {
	sum := sha256.Sum256(rawIssuer)
	return serial + "/" + hex.EncodeToString(sum[:8])
}

// serialHex formats a serial as pki.FormatSerial does (the broker imports no
// project package): lowercase hex of its bytes, leading zeros kept, so that
// a session's serial is the stored certificate's.
func serialHex(n *big.Int) string {
	if n.Sign() == 0 {
		return "00"
	}
	return hex.EncodeToString(n.Bytes())
}
