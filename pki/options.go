package pki

import (
	"crypto/rand"
	"io"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// Default CA common names.
const (
	DefaultRootName    = "Gatehouse Root CA"
	DefaultIssuingName = "Gatehouse Issuing CA"
)

type options struct {
	rootName, issuingName string
	keyType               KeyType
	now                   func() time.Time
	rand                  io.Reader
	onChange              func(store.Cert, store.AuditRecord)
	passphrase            []byte
}

// Option configures Init.
type Option func(*options)

func defaultOptions() options {
	return options{
		rootName:    DefaultRootName,
		issuingName: DefaultIssuingName,
		keyType:     DefaultKeyType,
		now:         time.Now,
		rand:        rand.Reader,
		onChange:    func(store.Cert, store.AuditRecord) {},
	}
}

// WithNames sets the common names of the root and issuing CAs created on first
// start. Existing CAs keep their names.
func WithNames(root, issuing string) Option {
	return func(o *options) { o.rootName, o.issuingName = root, issuing }
}

// WithKeyType sets the key type of client and server keys issued without an
// explicit one; "" keeps DefaultKeyType. CA keys are always ECDSA P-256.
func WithKeyType(kt KeyType) Option {
	return func(o *options) {
		if kt != "" {
			o.keyType = kt
		}
	}
}

// WithClock replaces time.Now, for validity dates, audit times and verification.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithRand replaces crypto/rand.Reader for serial numbers and keys. Note that
// the standard library may ignore it for key generation.
func WithRand(r io.Reader) Option { return func(o *options) { o.rand = r } }

// WithOnChange registers fn, called after every committed change to a
// certificate record (creation, auto-registration, every transition including
// the automatic first-use activation), after the state snapshot is updated.
// fn runs on the goroutine that made the change, outside any Authority lock;
// it must not block (it may run on a client's connection goroutine, in
// FirstUse).
func WithOnChange(fn func(store.Cert, store.AuditRecord)) Option {
	return func(o *options) { o.onChange = fn }
}

// WithPassphrase keeps CA private keys encrypted at rest under pass
// (AES-256-GCM, key derived by scrypt). Init then creates new CA keys
// sealed, and refuses a store whose keys pass does not open
// (ErrWrongPassphrase) or that keeps them in the clear (ErrNotSealed: convert
// it with SetPassphrase). Without it, Init refuses sealed keys with
// ErrPassphraseRequired. An empty pass is refused with ErrEmptyPassphrase.
func WithPassphrase(pass []byte) Option {
	return func(o *options) { o.passphrase = append([]byte{}, pass...) }
}
