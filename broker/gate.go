package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
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
)

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

// tlsConfig is the listener's base configuration: every handshake gets its
// own configuration from configFor, bound to that connection's peer.
func (l *gateListener) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		GetConfigForClient: l.configFor,
	}
}

// configFor builds the configuration of one handshake. It always requests a
// client certificate and leaves the decision to VerifyConnection, which reads
// the transport's mode there: Go's own "required" failure carries no reason
// we could report. Session tickets are off so every connection is verified
// against the current certificate states.
func (l *gateListener) configFor(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	pc, ok := hello.Conn.(peered)
	if !ok {
		return nil, fmt.Errorf("gate %s: unexpected connection type %T", l.name, hello.Conn)
	}
	p := pc.peer()
	return &tls.Config{
		MinVersion:             tls.VersionTLS12,
		GetCertificate:         l.b.cfg.GetCertificate,
		ClientAuth:             tls.RequestClientCert,
		SessionTicketsDisabled: true,
		NextProtos:             l.nextProtos,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return l.verify(p, cs)
		},
	}, nil
}

// verify is VerifyConnection: it records the identity and, on refusal, the
// reason in the peer, before any MQTT byte is read.
func (l *gateListener) verify(p *peer, cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		if l.b.ClientAuth(l.name) {
			p.refusal = ReasonNoClientCert
			return errNoClientCert
		}
		return nil
	}
	leaf := cs.PeerCertificates[0]
	p.serial = leaf.SerialNumber.Text(16)
	p.cn = leaf.Subject.CommonName
	p.issuer = leaf.Issuer.CommonName
	p.notAfter = leaf.NotAfter
	if err := l.b.cfg.Authorizer.Authorize(cs.PeerCertificates); err != nil {
		p.refusal = reasonOf(err)
		return fmt.Errorf("client certificate %s (%s): %w", p.serial, p.cn, err)
	}
	return nil
}

// handshake peeks the first byte, then runs the TLS handshake within the
// handshake timeout. It returns the established connection, or the reason it
// refused; both empty means the client went away before saying anything.
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
	return conn, ""
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
