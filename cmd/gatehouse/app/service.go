// Package app is Gatehouse's composition of store, pki and broker. App owns
// the cross-package policy (a suspend is a lifecycle transition plus an audit
// record, then a drop of live sessions) and implements Service, the interface
// the command line, the admin API and the TUI are written against.
package app

import (
	"context"
	"io"
	"time"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/broker/policy"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// Service is everything a client of Gatehouse can ask for. *App implements it
// in-process; the admin client implements it over the daemon's socket, so every
// command works the same with or without a running daemon.
type Service interface {
	// Describe says what the service is, for a title bar: e.g. "in-process
	// broker, data /data" or "daemon at /data/admin.sock".
	Describe() string
	// Snapshot returns the whole current state.
	Snapshot(ctx context.Context) (Snapshot, error)
	// Subscribe streams live events until ctx is cancelled; the channel is
	// closed when the stream ends. After lost events it sends one
	// broker.EventResync.
	Subscribe(ctx context.Context) (<-chan broker.Event, error)
	// CreateCert issues a client certificate and writes ca.pem, client.crt and
	// client.key into req.OutDir (default ./<cn>/); the key is not kept.
	CreateCert(ctx context.Context, req CreateRequest) (CreateResult, error)
	// Transition moves a certificate to Suspended, Active (reactivate) or
	// Revoked and drops its live sessions.
	Transition(ctx context.Context, serial string, to store.State, reason string) (TransitionResult, error)
	// SetClientAuth switches client-cert auth for one transport and returns
	// how many sessions were dropped.
	SetClientAuth(ctx context.Context, transport string, on bool) (int, error)
	// History returns the audit records of one certificate, newest first.
	History(ctx context.Context, serial string) ([]store.AuditRecord, error)
	// ExportCA writes the root certificate (ca.pem) to path.
	ExportCA(ctx context.Context, path string) error

	// ResolveSerial turns a unique CN, a serial or a unique serial prefix
	// (6+ hex characters) into the serial.
	ResolveSerial(ctx context.Context, query string) (string, error)
	// ListCerts lists certificates, optionally only those in one stored state.
	ListCerts(ctx context.Context, state store.State) ([]CertView, error)
	// EachCert calls fn with every certificate f selects, in ID order, as
	// it is read: neither end holds the whole list. It stops at fn's first
	// error and returns it.
	EachCert(ctx context.Context, f CertFilter, fn func(CertView) error) error
	// WriteCertsJSON writes the certificates f selects to w as `cert list
	// --json` prints them (see WriteJSONArray), as they are read.
	WriteCertsJSON(ctx context.Context, f CertFilter, w io.Writer) error
	// ShowCert returns one certificate with its sessions and history.
	ShowCert(ctx context.Context, serial string) (CertDetail, error)
	// IssueClient issues a client certificate and returns its key once.
	IssueClient(ctx context.Context, req IssueRequest) (Bundle, error)
	// RenewCert issues a successor with the same CN (new key, or the CSR's).
	RenewCert(ctx context.Context, req RenewRequest) (Bundle, error)
	// SetRenewal switches in-band renewal (devices asking over MQTT) on or off.
	SetRenewal(ctx context.Context, on bool) error
	// SignCSR signs a device's CSR; the device keeps its key.
	SignCSR(ctx context.Context, csrPEM []byte, ttl string) (Bundle, error)
	// ImportCert registers a client certificate issued elsewhere (inactive).
	ImportCert(ctx context.Context, certPEM []byte) (store.Cert, error)
	// RootPEM returns the root certificate clients use to verify the server.
	RootPEM(ctx context.Context) ([]byte, error)
	// TrustCA adds an operator's CA or chain.
	TrustCA(ctx context.Context, pemChain []byte, strict bool) ([]store.CA, error)
	// UntrustCA removes an operator-trusted CA (by CN, subject or ID prefix)
	// and drops the live sessions that relied on it; audited.
	UntrustCA(ctx context.Context, name string) (UntrustResult, error)
	// SetCAStrict switches an operator-trusted CA between strict (imported
	// certificates only) and auto-registering; audited.
	SetCAStrict(ctx context.Context, name string, strict bool) (store.CA, error)
	// CreateIssuer makes another issuing CA under our root; audited.
	CreateIssuer(ctx context.Context, name string) (store.CA, error)
	// ImportIssuer adds an issuing CA the operator brings with its key,
	// signed by a root kept offline (chainPEM: issuer first, root last).
	ImportIssuer(ctx context.Context, name string, chainPEM, keyPEM []byte) (store.CA, error)
	// SetServerIssuer makes an issuing CA sign the server certificate, so
	// devices verify the server with its root (ca export).
	SetServerIssuer(ctx context.Context, name string) error
	// SuspendIssuer refuses (or, with suspended false, admits again) every
	// certificate an issuing CA issued and drops their live sessions.
	SuspendIssuer(ctx context.Context, name string, suspended bool) (IssuerResult, error)
	// CRL returns the DER revocation list of an issuing CA ("" or
	// DefaultIssuer for the built-in one).
	CRL(ctx context.Context, issuer string) ([]byte, error)
	// ListCAs lists root, issuing and trusted CAs, without keys.
	ListCAs(ctx context.Context) ([]store.CA, error)
	// Transports reports each transport and its client-cert auth mode.
	Transports(ctx context.Context) ([]broker.TransportInfo, error)
	// Sessions lists live MQTT sessions.
	Sessions(ctx context.Context) ([]broker.Session, error)
	// Kick disconnects one live session (audited); its device may reconnect.
	Kick(ctx context.Context, clientID string) error
	// PurgeRetained deletes the retained messages a certificate's sessions
	// set that nobody replaced since (audited) and returns how many.
	PurgeRetained(ctx context.Context, ref string) (int, error)
	// RecentEvents returns recent events, oldest first.
	RecentEvents(ctx context.Context) ([]broker.Event, error)
	// Events returns persisted events matching q, oldest first.
	Events(ctx context.Context, q EventQuery) ([]broker.Event, error)
	// Audit lists audit records, newest first.
	Audit(ctx context.Context, q store.AuditQuery) ([]store.AuditRecord, error)
	// Backup writes a consistent copy of the store, CA keys included, to w.
	Backup(ctx context.Context, w io.Writer) (int64, error)

	// Policy returns the authorization policy: the default and the rules in order.
	Policy(ctx context.Context) (store.Policy, error)
	// AddRule validates and appends a rule and returns it with its new ID.
	AddRule(ctx context.Context, r store.Rule) (store.Rule, error)
	// RemoveRule deletes a rule and returns it.
	RemoveRule(ctx context.Context, id string) (store.Rule, error)
	// MoveRule puts rule id just before rule before.
	MoveRule(ctx context.Context, id, before string) error
	// SetPolicyDefault sets the decision when no rule applies: allow or deny.
	SetPolicyDefault(ctx context.Context, effect string) error
	// TestPolicy says what the policy decides for a client and topic, and why.
	TestPolicy(ctx context.Context, q PolicyTest) (PolicyDecision, error)

	// AuthModes reports each TLS transport's credential mode (tokens.go).
	AuthModes(ctx context.Context) ([]AuthModeInfo, error)
	// SetAuthMode switches a transport's credential mode (audited) and
	// returns how many sessions the new mode evicted.
	SetAuthMode(ctx context.Context, transport, mode string) (int, error)
	// CreateToken signs a token with Gatehouse's key; the token is returned
	// once and only its jti, sub and exp are kept.
	CreateToken(ctx context.Context, req TokenRequest) (pki.IssuedToken, error)
	// TrustTokenKeys trusts an issuer's public keys (JWKS or PEM) under name.
	TrustTokenKeys(ctx context.Context, name string, data []byte) ([]store.TokenKey, error)
	// UntrustTokenKeys removes them and drops the sessions whose token no
	// longer verifies.
	UntrustTokenKeys(ctx context.Context, name string) (TokenUntrustResult, error)
	// Tokens lists token subjects, issued and revoked tokens and keys.
	Tokens(ctx context.Context) (TokenList, error)
	// TokenTransition suspends, reactivates or revokes a token subject, or
	// revokes one token by jti, and drops the live sessions it refuses.
	TokenTransition(ctx context.Context, ref string, to store.State, reason string) (TokenTransitionResult, error)

	// ClusterStatus lists the cluster's nodes with their sessions and watch
	// lag and etcd's endpoints, or says the store is a single file
	// (clusterops.go).
	ClusterStatus(ctx context.Context) (ClusterStatus, error)
}

// CertView is a certificate as listed: the record without its PEM, plus
// how many live sessions use it. Its JSON is a command-line contract.
type CertView struct {
	store.Cert
	CertPEM  string `json:"cert_pem,omitempty"` // shadows the record's PEM, left empty in lists
	Expired  bool   `json:"expired"`
	Sessions int    `json:"sessions"`
}

// CertDetail is one certificate with everything known about it.
type CertDetail struct {
	CertView
	CertPEM      string              `json:"cert_pem"`
	LiveSessions []broker.Session    `json:"live_sessions"`
	History      []store.AuditRecord `json:"history"`
	// Rights are the policy rules that apply to the certificate, variables
	// filled; Denials counts its refused publishes and subscriptions since
	// the broker started.
	Rights  []policy.Grant `json:"rights"`
	Denials uint64         `json:"denials"`
}

// IssueRequest asks for a client certificate. Blank fields take defaults.
type IssueRequest struct {
	CN      string `json:"cn"`
	TTL     string `json:"ttl"`
	KeyType string `json:"key_type"`
	Issuer  string `json:"issuer,omitempty"` // the issuing CA's name; "" for the default one
}

// Bundle is an issued certificate with the PEMs a device needs. KeyPEM is
// empty for a signed CSR and is never stored.
type Bundle struct {
	Cert     store.Cert `json:"cert"`
	ChainPEM string     `json:"chain_pem"`
	KeyPEM   string     `json:"key_pem,omitempty"`
	CAPEM    string     `json:"ca_pem"`
}

// UntrustResult reports an untrusted CA and the sessions dropped with it.
// Its JSON is a command-line contract.
type UntrustResult struct {
	CA      store.CA `json:"ca"`
	Dropped int      `json:"dropped"`
}

// view builds the listed form of a record.
func view(c store.Cert, sessions int, now time.Time) CertView {
	return CertView{Cert: c, Expired: c.Expired(now), Sessions: sessions}
}
