package broker

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/netip"
	"time"

	"github.com/gatehouse/gatehouse/broker/policy"
)

// Transport names, as used on the command line, in the store and in events.
const (
	TransportMQTTS = "mqtts" // MQTT over TLS
	TransportWSS   = "wss"   // MQTT over secure WebSocket
	TransportMQTT  = "mqtt"  // plain MQTT, no TLS
	TransportHTTPS = "https" // the HTTPS device API (publish, server-sent events)
)

// Session is a snapshot of one live MQTT session.
type Session struct {
	ClientID string `json:"client_id"`
	Serial   string `json:"serial"` // empty when no client certificate was presented
	// CertID identifies the certificate: its serial, "/", and 16 hex digits
	// of the SHA-256 of its issuer's DER name (store.CertID), since serials
	// are unique per issuer only. DropSerial and SessionCount take it.
	CertID string `json:"cert_id,omitempty"`
	CN     string `json:"cn"`
	// Credential says how the session authenticated: CredentialCert,
	// CredentialJWT, CredentialCertJWT or CredentialAnonymous.
	Credential string `json:"credential"`
	// Subject is the token's sub claim for a session with a JWT.
	Subject      string    `json:"sub,omitempty"`
	Transport    string    `json:"transport"`
	Remote       string    `json:"remote"`
	ConnectedAt  time.Time `json:"connected_at"`
	MsgsIn       uint64    `json:"msgs_in"`
	MsgsOut      uint64    `json:"msgs_out"`
	BytesIn      uint64    `json:"bytes_in"`
	BytesOut     uint64    `json:"bytes_out"`
	LastActivity time.Time `json:"last_activity"`
	// DroppedOut counts messages not delivered because the client read too
	// slowly and its queue (Limits.MaxQueued) was full.
	DroppedOut uint64 `json:"dropped_out"`
	// RetainedRefused counts its retained messages not retained because the
	// retained store was at its limits.
	RetainedRefused uint64 `json:"retained_refused"`
}

// TransportInfo describes one listener.
type TransportInfo struct {
	Name       string `json:"transport"`
	Addr       string `json:"addr"` // the bound address (real port when :0 was asked)
	TLS        bool   `json:"tls"`
	ClientAuth bool   `json:"client_auth"` // client-cert auth on; always false without TLS
	// AuthMode is the credential the transport asks for (AuthCert, AuthJWT,
	// AuthEither, AuthCertJWT); empty without TLS.
	AuthMode  string `json:"auth_mode,omitempty"`
	Connected int    `json:"connected"`
}

// Authorizer decides on client certificates. The broker imports no project
// package; pki.Authority satisfies it. The broker derives a session's identity
// from the verified leaf itself: serial = the lowercase hex of the serial's
// bytes, leading zeros kept (as pki.FormatSerial and openssl print it),
// CN = leaf.Subject.CommonName, and the certificate's ID = serial plus a hash
// of the issuer's name (Session.CertID), which Allowed receives.
//
// The decision is split in two because Go calls VerifyConnection before it
// checks the client's CertificateVerify signature: at that point anyone who
// saw a certificate (TLS 1.2 sends it in clear) can present it. So Check only
// reads, and FirstUse, which may write (first-use activation, registration),
// runs only once the handshake has completed and the client has proved it
// holds the key, before any MQTT byte is read.
//
// Errors returned by every method implement interface{ Reason() string } so
// refusals carry an operator-readable reason ("expired", "suspended",
// "revoked", "unknown CA", "bad signature", "wrong key usage", ...).
type Authorizer interface {
	// Check verifies a presented chain (leaf first) at the TLS handshake:
	// trust, key rules, clientAuth EKU, validity and lifecycle state. It runs
	// inside VerifyConnection, must not write anything and must not call back
	// into the broker.
	Check(chain []*x509.Certificate) error
	// FirstUse records the use of a chain that passed Check, after the
	// handshake completed. It may refuse (the state changed since Check).
	FirstUse(chain []*x509.Certificate) error
	// Allowed reports whether a certificate may hold a session right now. It is
	// a lock-free read of the state snapshot, called when a session registers.
	Allowed(certID string) error
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
	// HTTPSAddr serves the HTTPS device API (POST /v1/publish/{topic},
	// GET /v1/subscribe/{filter}) behind the same gate as mqtts; empty = off.
	HTTPSAddr string

	// GetCertificate returns the current server certificate; called per
	// handshake so the certificate can be rotated without a restart.
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	Authorizer     Authorizer
	// Policy decides what each session may publish and subscribe to, live
	// (see Broker.SetPolicy). Nil allows every topic: a broker embedded
	// without a policy behaves as a plain broker; Gatehouse always sets one.
	Policy *policy.Policy
	// ClientAuth is the initial client-cert auth mode per TLS transport.
	ClientAuth map[string]bool
	// AuthModes is the initial credential mode per TLS transport (see
	// AuthMode); a missing transport takes AuthCert.
	AuthModes map[string]string
	// Tokens verifies JSON Web Tokens; nil allows AuthCert only.
	Tokens TokenChecker
	// Emit receives events. It must never block; the broker calls it from
	// client goroutines.
	Emit func(Event)
	// OnPublish, when set, sees every PUBLISH a client sends that the policy
	// allowed (for telemetry).
	// It runs on the client's goroutine: it must be quick, never block and
	// not keep payload after returning.
	OnPublish func(clientID, topic string, payload []byte, at time.Time)
	// OnHandshake, when set, sees how long each TLS handshake took and
	// whether it succeeded (for metrics). It must be quick and never block.
	OnHandshake func(transport string, took time.Duration, ok bool)
	// Renew, when set, signs in-band renewal requests (see RenewTopic); nil
	// refuses them.
	Renew RenewFunc
	// Logger receives mochi's and the broker's logs. Never the TUI's terminal.
	Logger *slog.Logger
	// ProxyFrom, when set, turns the PROXY protocol (v1 and v2, as HAProxy's
	// send-proxy and send-proxy-v2 write it) on for the TLS listeners: a
	// connection from one of these networks must start with a PROXY header,
	// whose source address then stands for the device's in sessions,
	// events and per-IP limits; a connection from anywhere else that sends
	// one is refused, so a device cannot choose its own address.
	ProxyFrom []netip.Prefix
	// HandshakeTimeout bounds the TLS handshake (and the PROXY header); default 10s.
	HandshakeTimeout time.Duration
	// ExpiryCheck is how often live sessions are checked for expired certificates; default 1s.
	ExpiryCheck time.Duration
	// Limits bound what clients can make the broker hold or do; see Limits
	// for which zero fields take a default and which mean unlimited.
	Limits Limits
}

// TokenClaims are what the broker needs from a verified token.
type TokenClaims struct {
	Subject string
	ID      string // the jti; empty when the issuer sets none
	Expires time.Time
}

// TokenChecker decides on JSON Web Tokens presented as a credential (the
// CONNECT password; the HTTPS front's Bearer token). The broker imports no
// project package; the App implements it. Errors implement
// interface{ Reason() string }, like the Authorizer's.
//
// The decision is split in two as certificates' is: Verify judges the token
// itself (signature, algorithm, key id, exp/nbf/iat, aud) and its refusal
// is a bad credential (CONNACK 0x86, HTTP 401); Allowed judges its subject
// and jti against the lifecycle state (suspended, revoked) and its refusal
// is "not authorized" (0x87, HTTP 403). Allowed is a lock-free read called
// under the index mutex, so it must not call back into the broker.
type TokenChecker interface {
	Verify(raw string) (TokenClaims, error)
	Allowed(subject, jti string) error
}
