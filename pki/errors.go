package pki

import "errors"

// Sentinel errors of package pki; match them with errors.Is.
var (
	// ErrTransition means the lifecycle table forbids the asked state change.
	ErrTransition = errors.New("transition not allowed")
	// ErrMalformed means PEM, certificate or CSR input could not be parsed or verified.
	ErrMalformed = errors.New("malformed input")
	// ErrTTL means a requested lifetime is invalid or outlives the issuing CA.
	ErrTTL = errors.New("invalid certificate lifetime")
	// ErrInvalidCN means a common name is too long or not printable.
	ErrInvalidCN = errors.New("invalid common name")
	// ErrUntrusted means a certificate does not chain to a trusted CA or is not a client certificate.
	ErrUntrusted = errors.New("certificate not trusted")
	// ErrNotCA means a certificate offered as a trust anchor is not a CA certificate.
	ErrNotCA = errors.New("not a CA certificate")
	// ErrWeakKey means a key or signature algorithm is refused by the key
	// rules: RSA below 2048 bits, curves other than P-256/P-384/Ed25519, SHA-1.
	ErrWeakKey = errors.New("weak key or signature")
	// ErrKeyRevoked means a public key is on the blocklist: a certificate
	// carrying it was revoked.
	ErrKeyRevoked = errors.New("key revoked")
)

// Refusal reasons an operator sees when a client certificate is refused.
const (
	ReasonNoCert        = "no client certificate"
	ReasonExpired       = "expired"
	ReasonNotYetValid   = "not yet valid"
	ReasonUnknownCA     = "unknown CA"
	ReasonSelfSigned    = "self-signed"
	ReasonBadSignature  = "bad signature"
	ReasonWrongKeyUsage = "wrong key usage"
	ReasonWeakKey       = "weak key"
	ReasonWeakSignature = "weak signature"
	ReasonRevokedKey    = "revoked key"
	ReasonSuspended     = "suspended"
	ReasonRevoked       = "revoked"
	// ReasonIssuerSuspended: the issuing CA is suspended (ca issuer suspend).
	ReasonIssuerSuspended = "issuer suspended"
	ReasonNotRegistered   = "not registered"
	ReasonUnknownCert     = "unknown certificate"
	ReasonInternal        = "internal error"
)

// Refusal is the error Authorize and Allowed return when a certificate may not
// connect. Why is one of the Reason constants. The field is not named Reason
// because the broker reads it through the method Reason().
type Refusal struct {
	Why string
	Err error // the underlying cause, if any
}

// Reason returns the operator-readable reason, e.g. "suspended".
func (r *Refusal) Reason() string { return r.Why }

// Error says that the certificate was refused, why, and the underlying cause.
func (r *Refusal) Error() string {
	if r.Err != nil {
		return "certificate refused: " + r.Why + ": " + r.Err.Error()
	}
	return "certificate refused: " + r.Why
}

// Unwrap returns the underlying cause.
func (r *Refusal) Unwrap() error { return r.Err }

func refuse(why string, err error) *Refusal { return &Refusal{Why: why, Err: err} }
