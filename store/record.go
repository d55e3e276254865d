package store

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors returned by the store. Callers match them with errors.Is.
var (
	// ErrNotFound means no record exists under the given key.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a compare-and-swap lost: the record changed since it was read.
	ErrConflict = errors.New("conflict: the record changed concurrently")
	// ErrExists means a record with the same key is already stored.
	ErrExists = errors.New("already exists")
	// ErrLocked means another process holds the database file lock.
	ErrLocked = errors.New("store is locked by another process")
	// ErrCorrupt means the file is not a Gatehouse database or is damaged.
	ErrCorrupt = errors.New("store file is corrupt or not a gatehouse database")
	// ErrNoStore means Open was told the store must exist and it does not.
	ErrNoStore = errors.New("no gatehouse store")
)

// AmbiguousError is returned when a serial prefix matches more than one certificate.
type AmbiguousError struct {
	Prefix     string
	Candidates []string
}

// Error lists the candidates so the operator can type a longer prefix.
func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("serial prefix %q is ambiguous: matches %s", e.Prefix, strings.Join(e.Candidates, ", "))
}

// State is the lifecycle state of a client certificate. Expired is not a state:
// it is computed from NotAfter.
type State string

// The four stored lifecycle states (DESIGN.md section 3).
const (
	StateInactive  State = "inactive"
	StateActive    State = "active"
	StateSuspended State = "suspended"
	StateRevoked   State = "revoked"
)

// Source says how a certificate entered the store.
type Source string

// Certificate sources.
const (
	SourceIssued         Source = "issued"
	SourceSigned         Source = "signed"
	SourceImported       Source = "imported"
	SourceAutoRegistered Source = "auto-registered"
)

// Cert is the stored record of a client certificate. It never holds a private key.
type Cert struct {
	ID             string    `json:"id"`     // the record's key: serial and issuer, see CertID
	Serial         string    `json:"serial"` // lowercase hex of the serial's bytes, leading zeros kept (pki.FormatSerial)
	CN             string    `json:"cn"`
	SANs           []string  `json:"sans,omitempty"`
	Issuer         string    `json:"issuer"` // issuer common name
	NotBefore      time.Time `json:"not_before"`
	NotAfter       time.Time `json:"not_after"`
	Fingerprint    string    `json:"fingerprint"` // SHA-256 of the DER, lowercase hex
	KeyType        string    `json:"key_type,omitempty"`
	State          State     `json:"state"`
	Source         Source    `json:"source"`
	CreatedAt      time.Time `json:"created_at"`
	FirstSeen      time.Time `json:"first_seen,omitzero"`
	LastSeen       time.Time `json:"last_seen,omitzero"`
	StateChangedAt time.Time `json:"state_changed_at,omitzero"`
	Reason         string    `json:"reason,omitempty"` // reason given with the last transition
	Renews         string    `json:"renews,omitempty"` // serial of the certificate this one succeeds (cert renew)
	CertPEM        string    `json:"cert_pem"`         // the leaf, PEM encoded
	// Revision is the store revision that wrote the record, as Transition
	// and DecodeCert return it: etcd's mod revision, which orders the writes
	// of every node sharing the store. It is 0 from the other reads and on a
	// store file, and is not part of the record.
	Revision int64 `json:"-"`
}

// Expired reports whether the certificate is past its NotAfter at now.
func (c Cert) Expired(now time.Time) bool { return now.After(c.NotAfter) }

// DisplayState is the state shown to operators: "expired" overrides any
// non-revoked state once NotAfter has passed.
func (c Cert) DisplayState(now time.Time) string {
	if c.State != StateRevoked && c.Expired(now) {
		return "expired"
	}
	return string(c.State)
}

// CARole says what a CA record is for.
type CARole string

// CA roles.
const (
	RoleRoot    CARole = "root"    // our self-signed root; ca.pem handed to clients
	RoleIssuing CARole = "issuing" // our intermediate that signs client and server leaves
	RoleTrusted CARole = "trusted" // a CA an operator brought; we trust certs it issued
)

// CA is a stored certificate authority.
type CA struct {
	ID        string    `json:"id"` // SHA-256 fingerprint of the certificate DER, lowercase hex
	Role      CARole    `json:"role"`
	Subject   string    `json:"subject"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	Strict    bool      `json:"strict"` // only certificates imported beforehand are accepted
	// Name is what operators call an issuing CA (and the root of an imported
	// one): "" for the built-in pair, shown as "default".
	Name string `json:"name,omitempty"`
	// Suspended refuses every certificate an issuing CA issued.
	Suspended bool      `json:"suspended,omitempty"`
	CertPEM   string    `json:"cert_pem"`
	KeyPEM    string    `json:"-"` // PKCS#8 PEM; only for root and issuing; never serialised to clients
	AddedAt   time.Time `json:"added_at"`
}

// Settings are the operator's persisted broker settings.
type Settings struct {
	// ClientAuth maps a transport name ("mqtts", "wss") to whether client-cert auth is on.
	// A transport missing from the map uses its default.
	ClientAuth map[string]bool `json:"client_auth,omitempty"`
	// AuthModes maps a transport ("mqtts", "wss", "https") to its credential
	// mode (cert, jwt, either, cert+jwt); a missing transport uses cert.
	AuthModes map[string]string `json:"auth_modes,omitempty"`
	// SANs are the extra names the server certificate is issued for.
	SANs []string `json:"sans,omitempty"`
	// PublicURL is where relying parties reach this Gatehouse's CRL and OCSP
	// responder; client certificates issued while it is set name both.
	PublicURL string `json:"public_url,omitempty"`
	// RenewalOff refuses in-band renewal requests from devices (MQTT topic
	// $gatehouse/certificates/csr); renewal is on by default.
	RenewalOff bool `json:"renewal_off,omitempty"`
	// ServerIssuer names the issuing CA that signs the server certificate
	// (an imported one, so that devices verify the server with the
	// operator's root); "" is the built-in one.
	ServerIssuer string `json:"server_issuer,omitempty"`
}

// AuditRecord is one entry in the append-only audit log.
type AuditRecord struct {
	Seq     uint64    `json:"seq"` // assigned by the store
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`  // OS user, "tui", or "broker" for automatic changes
	Action  string    `json:"action"` // e.g. cert.create, cert.suspend, cert.activate, mtls.on, ca.trust
	Serial  string    `json:"serial,omitempty"`
	CertID  string    `json:"cert_id,omitempty"` // the certificate's ID (CertID) when Serial is set
	CN      string    `json:"cn,omitempty"`
	Subject string    `json:"sub,omitempty"` // a token subject's name (token.* actions)
	From    State     `json:"from,omitempty"`
	To      State     `json:"to,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Dropped int       `json:"dropped,omitempty"` // live sessions dropped by this action
	Detail  string    `json:"detail,omitempty"`
}

// CertQuery selects certificates for ListCerts. Zero values mean "any".
type CertQuery struct {
	State    State  // only this stored state
	CNPrefix string // only CNs starting with this
	After    string // cursor: return certificates whose ID sorts strictly after this one
	Limit    int    // at most this many; 0 means no limit
	NoPEM    bool   // leave CertPEM empty: the PEM is most of a record and listings do not print it
}

// AuditQuery selects audit records for ListAudit, newest first.
type AuditQuery struct {
	Serial string // only records about this serial (of any issuer)
	CertID string // only records about this certificate (see CertID)
	Before uint64 // cursor: only records with Seq < Before; 0 means from the newest
	Limit  int    // at most this many; 0 means no limit
}
