package pki

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"

	"github.com/gatehouse/gatehouse/store"
)

// verify checks chain (leaf first, then presented intermediates) against the
// trust set t (our root and the operator-trusted CAs) at the Authority's
// clock, for clientAuth, then applies the key rules to the verified chain: an
// explicit clientAuth EKU on the leaf and no weak key anywhere in it. fp is
// the SHA-256 of the leaf's DER. A chain verified against t before and still
// within its dates is taken from t's cache; the leaf's dates are checked
// every time. It only reads. Failures are *Refusal values with an
// operator-readable reason.
func (a *Authority) verify(t *trustSet, chain []*x509.Certificate, fp [32]byte) (chainFacts, error) {
	leaf := chain[0]
	now := a.opts.now()
	if now.Before(leaf.NotBefore) {
		return chainFacts{}, refuse(ReasonNotYetValid, fmt.Errorf("valid from %s", leaf.NotBefore.UTC().Format("2006-01-02 15:04:05Z")))
	}
	if now.After(leaf.NotAfter) {
		return chainFacts{}, refuse(ReasonExpired, fmt.Errorf("expired %s", leaf.NotAfter.UTC().Format("2006-01-02 15:04:05Z")))
	}
	key := chainKey(chain, fp)
	if f, ok := t.chains.get(key, now); ok {
		return f, nil
	}
	inter := t.intermediates
	if len(chain) > 1 {
		inter = inter.Clone()
		for _, c := range chain[1:] {
			if c != nil {
				inter.AddCert(c)
			}
		}
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         t.roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return chainFacts{}, whyUnverified(t, leaf, err)
	}
	// Verify treats a leaf without EKU as good for any use; we want devices
	// to say they are clients.
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return chainFacts{}, refuse(ReasonWrongKeyUsage, errors.New("the certificate has no clientAuth extended key usage"))
	}
	for _, c := range chains[0] {
		if _, err := keyTypeOf(c.PublicKey); err != nil {
			return chainFacts{}, refuse(ReasonWeakKey, fmt.Errorf("%s: %w", c.Subject.CommonName, err))
		}
	}
	f := factsOf(t, chains)
	t.chains.put(key, f)
	return f, nil
}

// verifyChain is verify against the current trust set, for a chain that may
// be empty.
func (a *Authority) verifyChain(chain []*x509.Certificate) (chainFacts, [32]byte, error) {
	if len(chain) == 0 || chain[0] == nil {
		return chainFacts{}, [32]byte{}, refuse(ReasonNoCert, nil)
	}
	fp := sha256.Sum256(chain[0].Raw)
	f, err := a.verify(a.trust.Load(), chain, fp)
	return f, fp, err
}

// whyUnverified names why a chain did not verify.
func whyUnverified(t *trustSet, leaf *x509.Certificate, err error) error {
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) {
		switch invalid.Reason {
		case x509.Expired:
			return refuse(ReasonExpired, err)
		case x509.IncompatibleUsage:
			return refuse(ReasonWrongKeyUsage, err)
		}
	}
	if isSelfSigned(leaf) {
		return refuse(ReasonSelfSigned, err)
	}
	if ca := issuerNamed(t, leaf); ca != nil {
		if weakSignature(leaf.SignatureAlgorithm) {
			return refuse(ReasonWeakSignature, fmt.Errorf("signed with %s", leaf.SignatureAlgorithm))
		}
		if leaf.CheckSignatureFrom(ca) != nil {
			return refuse(ReasonBadSignature, err)
		}
	}
	return refuse(ReasonUnknownCA, err)
}

func isSelfSigned(c *x509.Certificate) bool {
	// CheckSignatureFrom would demand CA basic constraints; a self-signed leaf has none.
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// issuerNamed returns the CA of ours named as leaf's issuer (by name or key
// identifier), or nil. When the chain did not verify although one is named,
// the leaf's signature does not check out: forged, tampered with or weak.
func issuerNamed(t *trustSet, leaf *x509.Certificate) *x509.Certificate {
	for _, ca := range t.cas {
		byName := bytes.Equal(leaf.RawIssuer, ca.RawSubject)
		byKey := len(leaf.AuthorityKeyId) > 0 && bytes.Equal(leaf.AuthorityKeyId, ca.SubjectKeyId)
		if byName || byKey {
			return ca
		}
	}
	return nil
}

// verdict is what the read-only part of a decision found about a verified
// chain: a stored certificate and its state, or one to register on first use.
type verdict struct {
	leaf   *x509.Certificate
	serial string
	id     string // store.CertID: serial and issuer
	fp     [32]byte
	known  bool
	state  store.State // when known
}

// decide verifies chain and consults the snapshot and the key blocklist,
// without writing. Suspended and revoked certificates are refused, and so is
// any certificate carrying a revoked key; one unknown here is refused unless
// a non-strict operator CA vouches for it (then it is to be registered on
// first use). Every error is a *Refusal.
func (a *Authority) decide(chain []*x509.Certificate) (verdict, error) {
	f, fp, err := a.verifyChain(chain)
	if err != nil {
		return verdict{}, err
	}
	// An issuing CA an operator suspended: every certificate it issued is out
	// until it is reactivated.
	if f.suspended != "" {
		return verdict{}, refuse(ReasonIssuerSuspended, fmt.Errorf("issuing CA %q is suspended", f.suspended))
	}
	leaf := chain[0]
	serial := FormatSerial(leaf.SerialNumber)
	v := verdict{leaf: leaf, serial: serial, id: store.CertID(serial, leaf.RawIssuer), fp: fp}
	if e, ok := a.snap.get(v.id); ok {
		if e.fp != v.fp {
			return verdict{}, refuse(ReasonUnknownCert, fmt.Errorf("serial %s belongs to another certificate", v.serial))
		}
		v.known, v.state = true, e.state
		if err := stateRefusal(e.state); err != nil {
			return verdict{}, err
		}
	}
	if a.keyBlocked(leaf.RawSubjectPublicKeyInfo) {
		return verdict{}, refuse(ReasonRevokedKey, fmt.Errorf("serial %s carries the key of a revoked certificate", v.serial))
	}
	if v.known {
		return v, nil
	}
	switch {
	case f.ours:
		return verdict{}, refuse(ReasonUnknownCert, fmt.Errorf("serial %s was issued here but is not in the store", v.serial))
	case f.strict:
		return verdict{}, refuse(ReasonNotRegistered, fmt.Errorf("CA %s is strict: import the certificate first", f.anchor))
	}
	return v, nil
}

// Check decides on a client certificate chain at the TLS handshake
// (broker.Authorizer), before the client has proved it holds the key: it
// verifies the chain, the key rules, the dates and the snapshot state, and
// never writes. Inactive certificates and first-seen ones from a non-strict
// operator CA pass; FirstUse records them once the handshake has completed.
// Every error is a *Refusal.
func (a *Authority) Check(chain []*x509.Certificate) error {
	_, err := a.decide(chain)
	return err
}

// FirstUse records the first use of a chain that passed Check, once the TLS
// handshake has completed and so the client has proved it holds the key
// (broker.Authorizer): an inactive certificate is activated (one store write;
// later connections read "active" and write nothing) and a certificate from a
// non-strict operator CA seen for the first time is registered and activated.
// It decides again on the current state, so a suspend since Check wins. Every
// error is a *Refusal.
func (a *Authority) FirstUse(chain []*x509.Certificate) error {
	if len(chain) > 0 && chain[0] != nil {
		// The common case, an active certificate, needs no second verification.
		if e, ok := a.snap.get(store.CertID(FormatSerial(chain[0].SerialNumber), chain[0].RawIssuer)); ok && e.state == store.StateActive && e.fp == sha256.Sum256(chain[0].Raw) {
			return nil
		}
	}
	v, err := a.decide(chain)
	if err != nil {
		return err
	}
	if v.known {
		return a.admit(v.id, v.state)
	}
	return a.autoRegister(v.leaf, v.id, v.fp)
}

// stateRefusal is the refusal for a known certificate in state st, or nil.
func stateRefusal(st store.State) error {
	switch st {
	case store.StateActive, store.StateInactive:
		return nil
	case store.StateSuspended:
		return refuse(ReasonSuspended, nil)
	case store.StateRevoked:
		return refuse(ReasonRevoked, nil)
	}
	return refuse(ReasonInternal, fmt.Errorf("unknown state %q", st))
}

// admit applies the lifecycle state of a verified, known certificate.
func (a *Authority) admit(id string, st store.State) error {
	if st != store.StateInactive {
		return stateRefusal(st)
	}
	err := a.activate(id)
	if err == nil {
		return nil
	}
	// A concurrent connection or operator got there first: decide on what won.
	if now, ok := a.snap.get(id); ok && now.state != store.StateInactive {
		return a.admit(id, now.state)
	}
	// Another process sharing the store (a cluster node) won: its change
	// reaches the snapshot with its watch event, maybe after this
	// connection, so decide on the stored state.
	if errors.Is(err, store.ErrConflict) {
		if c, gerr := a.st.GetCert(id); gerr == nil && c.State != store.StateInactive {
			return a.admit(id, c.State)
		}
	}
	return refuse(ReasonInternal, err)
}

// autoRegister stores a certificate from a non-strict operator CA on first
// use, then activates it.
func (a *Authority) autoRegister(leaf *x509.Certificate, id string, fp [32]byte) error {
	kt, err := keyTypeOf(leaf.PublicKey)
	if err != nil { // verify checked it; never reached
		return refuse(ReasonWeakKey, err)
	}
	rec := certRecord(leaf, kt, store.SourceAutoRegistered, a.opts.now())
	err = a.register(rec, "broker", "registered on first use, issued by "+leaf.Issuer.String())
	if errors.Is(err, store.ErrExists) {
		// Registered concurrently, or another certificate of this issuer
		// holds this serial.
		if e, ok := a.snap.get(id); ok && e.fp == fp {
			return a.admit(id, e.state)
		}
		return refuse(ReasonUnknownCert, fmt.Errorf("certificate %s: its issuer's serial belongs to another certificate", id))
	}
	if err != nil {
		return refuse(ReasonInternal, err)
	}
	return a.admit(id, store.StateInactive)
}

// Allowed reports from the snapshot whether the certificate with ID id
// (store.CertID) may hold a session now: nil for active and inactive
// certificates, a *Refusal otherwise.
func (a *Authority) Allowed(id string) error {
	e, ok := a.snap.get(id)
	switch {
	case !ok:
		return refuse(ReasonUnknownCert, nil)
	case e.state == store.StateSuspended:
		return refuse(ReasonSuspended, nil)
	case e.state == store.StateRevoked:
		return refuse(ReasonRevoked, nil)
	}
	return nil
}
