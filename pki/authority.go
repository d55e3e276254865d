// Package pki is Gatehouse's certificate authority: CA material, client and
// server issuance, CSR signing and import, the certificate lifecycle rules, and
// the in-memory state snapshot consulted at every TLS handshake.
//
// Concurrency contract: an *Authority is safe for concurrent use. Handshake
// reads (Check, FirstUse on an active certificate, Allowed, State) are
// lock-free: they load atomic pointers to immutable trust material and
// snapshot shards. Check never writes: it runs before the client has proved it
// holds the key. Writers (issuance, import, trust, transitions, first-use
// activation and auto-registration in FirstUse) serialise
// on one mutex; each commits to the store first, then updates the snapshot,
// then releases the mutex and calls the OnChange hook.
package pki

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// CA validity periods.
const (
	RootValidity    = 10 * 365 * day
	IssuingValidity = 5 * 365 * day
)

// backdate is subtracted from NotBefore to tolerate clock skew between hosts.
const backdate = time.Minute

// Authority issues and verifies certificates against one store.
type Authority struct {
	st   *store.Store
	opts options

	// issuers are the issuing CAs and the roots anchoring them; swapped as a
	// whole under mu, read lock-free.
	issuers atomic.Pointer[issuerSet]
	// keys seals CA keys at rest; nil keeps them in the clear. Set by Init,
	// replaced by SetPassphrase under mu; read without locking (Sealed).
	keys atomic.Pointer[keyring]

	mu      sync.Mutex // serialises writers; see the package comment
	trust   atomic.Pointer[trustSet]
	snap    *snapshot
	blocked atomic.Pointer[map[string]bool] // SPKI hashes of revoked keys; see blocklist.go
	tokens  *Tokens                         // token subjects and keys; see tokens.go
}

// caKeyPair is a CA certificate with its key, as created or loaded.
type caKeyPair struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
}

// Init loads the CAs from st, creating the root (10 years) and issuing
// intermediate (5 years) on first start, and loads the state snapshot.
func Init(st *store.Store, opts ...Option) (*Authority, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	a := &Authority{st: st, opts: o}
	if o.passphrase != nil {
		k, err := newKeyring(o.passphrase)
		if err != nil {
			return nil, fmt.Errorf("init pki: %w", err)
		}
		a.keys.Store(k)
	}
	cas, err := st.ListCAs()
	if err != nil {
		return nil, fmt.Errorf("init pki: %w", err)
	}
	root, err := a.loadOrCreateCA(cas, store.RoleRoot, nil)
	if err != nil {
		return nil, fmt.Errorf("init pki: %w", err)
	}
	issuing, err := a.loadOrCreateCA(cas, store.RoleIssuing, root)
	if err != nil {
		return nil, fmt.Errorf("init pki: %w", err)
	}
	def := &issuer{name: DefaultIssuer, cert: issuing.cert, certPEM: issuing.certPEM, key: issuing.key,
		rootPEM: root.certPEM, idSuffix: store.CertID("", issuing.cert.RawSubject), id: fingerprint(issuing.cert.Raw)}
	if err := a.loadIssuers(cas, def); err != nil {
		return nil, fmt.Errorf("init pki: %w", err)
	}
	if err := a.reloadTrust(); err != nil {
		return nil, fmt.Errorf("init pki: %w", err)
	}
	n, err := st.CountCerts()
	if err != nil {
		return nil, fmt.Errorf("init pki: load state snapshot: %w", err)
	}
	a.snap, err = newSnapshot(n, func(add func(string, entry)) error {
		return st.EachState(func(cs store.CertState) error {
			e, err := entryOf(store.Cert{ID: cs.ID, State: cs.State, Fingerprint: cs.Fingerprint})
			if err != nil {
				return err
			}
			add(cs.ID, e)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("init pki: load state snapshot: %w", err)
	}
	if err := a.loadBlocked(); err != nil {
		return nil, fmt.Errorf("init pki: load key blocklist: %w", err)
	}
	a.tokens = &Tokens{a: a, audience: DefaultTokenAudience}
	if err := a.tokens.reload(); err != nil {
		return nil, fmt.Errorf("init pki: %w", err)
	}
	return a, nil
}

// Store returns the store the Authority was initialised with.
func (a *Authority) Store() *store.Store { return a.st }

func entryOf(c store.Cert) (entry, error) {
	e := entry{state: c.State}
	fp, err := hex.DecodeString(c.Fingerprint)
	if err != nil || len(fp) != len(e.fp) {
		return entry{}, fmt.Errorf("certificate %s: bad fingerprint %q", c.ID, c.Fingerprint)
	}
	copy(e.fp[:], fp)
	return e, nil
}

// loadOrCreateCA returns the first stored built-in CA (no Name) of role, or
// creates one signed by parent (self-signed when parent is nil) and stores it.
func (a *Authority) loadOrCreateCA(cas []store.CA, role store.CARole, parent *caKeyPair) (*caKeyPair, error) {
	if ca, ok := builtInCA(cas, role); ok {
		return a.parseCAKeyPair(ca)
	}
	if a.st.ReadOnly() {
		return nil, fmt.Errorf("store %s holds no %s CA and is open read-only: run 'gatehouse init' to create it", a.st.Path(), role)
	}
	key, err := generateKey(KeyECDSAP256, a.opts.rand)
	if err != nil {
		return nil, fmt.Errorf("generate %s CA key: %w", role, err)
	}
	serial, err := a.newSerial()
	if err != nil {
		return nil, err
	}
	now := a.opts.now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: a.opts.rootName, Organization: []string{"Gatehouse"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(RootValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	signer, parentCert := key, tmpl
	if parent != nil {
		tmpl.Subject.CommonName = a.opts.issuingName
		tmpl.NotAfter = now.Add(IssuingValidity)
		if tmpl.NotAfter.After(parent.cert.NotAfter) {
			tmpl.NotAfter = parent.cert.NotAfter
		}
		tmpl.MaxPathLen, tmpl.MaxPathLenZero = 0, true
		signer, parentCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(a.opts.rand, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("create %s CA: %w", role, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse new %s CA: %w", role, err)
	}
	rec := caRecord(cert, role, now)
	if rec.KeyPEM, err = a.encodeCAKey(rec.ID, key); err != nil {
		return nil, err
	}
	audit := store.AuditRecord{At: now, Actor: "gatehouse", Action: "ca.create",
		Detail: fmt.Sprintf("%s CA %q, expires %s", role, cert.Subject.CommonName, cert.NotAfter.UTC().Format(time.DateOnly))}
	if err := a.st.PutCA(rec, audit); errors.Is(err, store.ErrExists) {
		// Another node sharing the store created one meanwhile: use it.
		if cas, err = a.st.ListCAs(); err != nil {
			return nil, err
		}
		if ca, ok := builtInCA(cas, role); ok {
			return a.parseCAKeyPair(ca)
		}
		return nil, fmt.Errorf("create %s CA: %w", role, store.ErrExists)
	} else if err != nil {
		return nil, err
	}
	return &caKeyPair{cert: cert, certPEM: []byte(rec.CertPEM), key: key}, nil
}

// builtInCA is the first of cas that is our own (unnamed) CA of role.
func builtInCA(cas []store.CA, role store.CARole) (store.CA, bool) {
	for _, ca := range cas {
		if ca.Role == role && ca.Name == "" {
			return ca, true
		}
	}
	return store.CA{}, false
}

func (a *Authority) parseCAKeyPair(ca store.CA) (*caKeyPair, error) {
	cert, err := parseCertPEM([]byte(ca.CertPEM))
	if err != nil {
		return nil, fmt.Errorf("stored %s CA %s: %w", ca.Role, ca.ID, err)
	}
	der, err := a.caKeyDER(ca)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("stored %s CA %s: parse key: %w", ca.Role, ca.ID, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("stored %s CA %s: key type %T cannot sign", ca.Role, ca.ID, k)
	}
	return &caKeyPair{cert: cert, certPEM: []byte(ca.CertPEM), key: signer}, nil
}

// caKeyDER returns the PKCS#8 DER of a stored CA key, opening it when
// sealed. A store must be wholly sealed with a passphrase or wholly clear
// without one: a clear key while a passphrase is given is refused, so an
// operator who believes the keys are protected learns that they are not.
func (a *Authority) caKeyDER(ca store.CA) ([]byte, error) {
	return a.keyDER(ca.ID, ca.KeyPEM, fmt.Sprintf("stored %s CA %s", ca.Role, ca.ID))
}

// keyDER opens a stored key (a CA's, or the token signing key) sealed for
// id, as caKeyDER describes; what names it in errors.
func (a *Authority) keyDER(id, keyPEM, what string) ([]byte, error) {
	block, _ := pem.Decode([]byte(keyPEM))
	if block == nil {
		return nil, fmt.Errorf("%s: no private key", what)
	}
	keys := a.keys.Load()
	switch {
	case block.Type == sealedKeyType && keys == nil:
		return nil, fmt.Errorf("%s: %w", what, ErrPassphraseRequired)
	case block.Type == sealedKeyType:
		der, err := keys.open(id, block)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return der, nil
	case block.Type == clearKeyType && keys != nil:
		return nil, fmt.Errorf("%s: %w", what, ErrNotSealed)
	case block.Type == clearKeyType:
		return block.Bytes, nil
	}
	return nil, fmt.Errorf("%s: %w: key is a PEM %q block", what, ErrMalformed, block.Type)
}

// encodeCAKey is the stored form of a new CA key for the CA with ID caID:
// sealed when the Authority has a passphrase. Every CA key the Authority
// stores goes through it.
func (a *Authority) encodeCAKey(caID string, key crypto.Signer) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("encode CA private key: %w", err)
	}
	keys := a.keys.Load()
	if keys == nil {
		return string(pem.EncodeToMemory(&pem.Block{Type: clearKeyType, Bytes: der})), nil
	}
	return keys.seal(caID, der)
}

// caRecord describes cert as a store record.
func caRecord(cert *x509.Certificate, role store.CARole, now time.Time) store.CA {
	return store.CA{
		ID:        fingerprint(cert.Raw),
		Role:      role,
		Subject:   cert.Subject.String(),
		NotBefore: cert.NotBefore,
		NotAfter:  cert.NotAfter,
		CertPEM:   string(encodeCert(cert.Raw)),
		AddedAt:   now,
	}
}

// RootPEM returns the ca.pem clients need to verify the server: the root of
// the issuing CA that signs the server certificate (ours, unless an
// operator's imported issuer was chosen with SetServerIssuer).
func (a *Authority) RootPEM() []byte { return append([]byte(nil), a.issuers.Load().server.rootPEM...) }

// IssuingPEM returns the issuing intermediate that signs client and server leaves.
func (a *Authority) IssuingPEM() []byte { return append([]byte(nil), a.issuers.Load().def.certPEM...) }

// CAs lists every CA (ours and operator-trusted) with KeyPEM cleared.
func (a *Authority) CAs() ([]store.CA, error) {
	cas, err := a.st.ListCAs()
	if err != nil {
		return nil, err
	}
	for i := range cas {
		cas[i].KeyPEM = ""
	}
	return cas, nil
}

// State returns a certificate's state from the snapshot, without locking;
// id is the certificate's store.CertID.
func (a *Authority) State(id string) (store.State, bool) {
	e, ok := a.snap.get(id)
	return e.state, ok
}

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// parseCertPEM parses the first CERTIFICATE block of data.
func parseCertPEM(data []byte) (*x509.Certificate, error) {
	certs, err := parseCertsPEM(data)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// parseCertsPEM parses every CERTIFICATE block of data; it needs at least one
// and refuses other block types and trailing garbage.
func parseCertsPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%w: PEM block %q is not a CERTIFICATE", ErrMalformed, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %d: %v", ErrMalformed, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: no PEM CERTIFICATE block found", ErrMalformed)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: unparseable data after certificate %d", ErrMalformed, len(certs))
	}
	return certs, nil
}
