package broker

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"time"
)

// Transport names, as used on the command line, in the store and in events.
const (
	TransportMQTTS = "mqtts" // MQTT over TLS
	TransportWSS   = "wss"   // MQTT over secure WebSocket
	TransportMQTT  = "mqtt"  // plain MQTT, no TLS
)

// Session is a snapshot of one live MQTT session.
type Session struct {
	ClientID     string    `json:"client_id"`
	Serial       string    `json:"serial"` // empty when no client certificate was presented
	CN           string    `json:"cn"`
	Transport    string    `json:"transport"`
	Remote       string    `json:"remote"`
	ConnectedAt  time.Time `json:"connected_at"`
	MsgsIn       uint64    `json:"msgs_in"`
	MsgsOut      uint64    `json:"msgs_out"`
	BytesIn      uint64    `json:"bytes_in"`
	BytesOut     uint64    `json:"bytes_out"`
	LastActivity time.Time `json:"last_activity"`
}

// TransportInfo describes one listener.
type TransportInfo struct {
	Name       string `json:"transport"`
	Addr       string `json:"addr"` // the bound address (real port when :0 was asked)
	TLS        bool   `json:"tls"`
	ClientAuth bool   `json:"client_auth"` // client-cert auth on; always false without TLS
	Connected  int    `json:"connected"`
}

// Authorizer decides on client certificates. The broker imports no project
// package; pki.Authority satisfies it. The broker derives a session's identity
// from the verified leaf itself: serial = leaf.SerialNumber.Text(16) (lowercase
// hex, no leading zeros), CN = leaf.Subject.CommonName.
//
// Errors returned by Authorize and Allowed implement interface{ Reason() string }
// so refusals carry an operator-readable reason ("expired", "suspended",
// "revoked", "unknown CA", "bad signature", "wrong key usage", ...).
type Authorizer interface {
	// Authorize verifies a presented chain (leaf first) at the TLS handshake:
	// trust, clientAuth EKU, validity and lifecycle state. It runs inside
	// VerifyConnection and must not call back into the broker.
	Authorize(chain []*x509.Certificate) error
	// Allowed reports whether a certificate may hold a session right now. It is
	// a lock-free read of the state snapshot, called when a session registers.
	Allowed(serial string) error
}

// Config configures a Broker. Empty addresses disable that transport.
type Config struct {
	MQTTSAddr string // e.g. ":8883"
	WSSAddr   string // e.g. ":8884"
	WSSPath   string // default "/mqtt"
	// WSSOrigins are the browser origins (e.g. "https://dash.example.com")
	// allowed to open MQTT over WebSocket besides the broker's own; "*" allows
	// any. Requests without an Origin header (devices) are always allowed.
	WSSOrigins []string
	MQTTAddr   string // plain MQTT; empty = off

	// GetCertificate returns the current server certificate; called per
	// handshake so the certificate can be rotated without a restart.
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	Authorizer     Authorizer
	// ClientAuth is the initial client-cert auth mode per TLS transport.
	ClientAuth map[string]bool
	// Emit receives events. It must never block; the broker calls it from
	// client goroutines.
	Emit func(Event)
	// OnPublish, when set, sees every PUBLISH a client sends (for telemetry).
	// It runs on the client's goroutine: it must be quick, never block and
	// not keep payload after returning.
	OnPublish func(clientID, topic string, payload []byte, at time.Time)
	// Logger receives mochi's and the broker's logs. Never the TUI's terminal.
	Logger *slog.Logger
	// HandshakeTimeout bounds the TLS handshake; default 10s.
	HandshakeTimeout time.Duration
	// ExpiryCheck is how often live sessions are checked for expired certificates; default 1s.
	ExpiryCheck time.Duration
}
