package pki

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/gatehouse/gatehouse/store"
)

// verify checks chain (leaf first, then presented intermediates) against our
// root and the operator-trusted CAs at the Authority's clock, for clientAuth.
// Failures are *Refusal values with an operator-readable reason.
func (a *Authority) verify(chain []*x509.Certificate) ([][]*x509.Certificate, error) {
	if len(chain) == 0 || chain[0] == nil {
		return nil, refuse(ReasonNoCert, nil)
	}
	leaf := chain[0]
	now := a.opts.now()
	if now.Before(leaf.NotBefore) {
		return nil, refuse(ReasonNotYetValid, fmt.Errorf("valid from %s", leaf.NotBefore.UTC().Format("2006-01-02 15:04:05Z")))
	}
	if now.After(leaf.NotAfter) {
		return nil, refuse(ReasonExpired, fmt.Errorf("expired %s", leaf.NotAfter.UTC().Format("2006-01-02 15:04:05Z")))
	}
	t := a.trust.Load()
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
	if err == nil {
		return chains, nil
	}
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) {
		switch invalid.Reason {
		case x509.Expired:
			return nil, refuse(ReasonExpired, err)
		case x509.IncompatibleUsage:
			return nil, refuse(ReasonWrongKeyUsage, err)
		}
	}
	if isSelfSigned(leaf) {
		return nil, refuse(ReasonSelfSigned, err)
	}
	if a.issuerKnown(t, leaf) {
		return nil, refuse(ReasonBadSignature, err)
	}
	return nil, refuse(ReasonUnknownCA, err)
}

func isSelfSigned(c *x509.Certificate) bool {
	// CheckSignatureFrom would demand CA basic constraints; a self-signed leaf has none.
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// issuerKnown reports whether one of our CAs is named as leaf's issuer (by
// name or key identifier) although the chain did not verify: the leaf's
// signature does not check out, so it was tampered with or forged.
func (a *Authority) issuerKnown(t *trustSet, leaf *x509.Certificate) bool {
	for _, ca := range t.cas {
		byName := bytes.Equal(leaf.RawIssuer, ca.RawSubject)
		byKey := len(leaf.AuthorityKeyId) > 0 && bytes.Equal(leaf.AuthorityKeyId, ca.SubjectKeyId)
		if (byName || byKey) && leaf.CheckSignatureFrom(ca) != nil {
			return true
		}
	}
	return false
}

// Authorize decides on a client certificate chain at the TLS handshake
// (broker.Authorizer). It verifies the chain, then consults the snapshot:
// suspended and revoked certificates are refused; an inactive one is activated
// (one store write, later handshakes read "active" without writing); a
// certificate from a non-strict operator CA seen for the first time is
// registered and activated. Every error is a *Refusal.
func (a *Authority) Authorize(chain []*x509.Certificate) error {
	chains, err := a.verify(chain)
	if err != nil {
		return err
	}
	leaf := chain[0]
	serial := FormatSerial(leaf.SerialNumber)
	id := store.CertID(serial, leaf.RawIssuer)
	fp := sha256.Sum256(leaf.Raw)
	if e, ok := a.snap.get(id); ok && e.fp == fp {
		return a.admit(id, e.state)
	}
	t := a.trust.Load()
	anchor, ours := anchorOf(t, chains)
	switch {
	case ours:
		return refuse(ReasonUnknownCert, fmt.Errorf("serial %s was issued here but is not in the store", serial))
	case anchor.Strict:
		return refuse(ReasonNotRegistered, fmt.Errorf("CA %s is strict: import the certificate first", anchor.Subject))
	}
	return a.autoRegister(leaf, id, fp)
}

// anchorOf finds which CA vouched for the leaf: ours, or the operator CA
// nearest to the leaf in the first verified chain.
func anchorOf(t *trustSet, chains [][]*x509.Certificate) (store.CA, bool) {
	var anchor store.CA
	for _, chain := range chains {
		for _, c := range chain[1:] {
			id := fingerprint(c.Raw)
			if t.ours[id] {
				return store.CA{}, true
			}
			if ca, ok := t.trusted[id]; ok && anchor.ID == "" {
				anchor = ca
			}
		}
	}
	return anchor, false
}

// admit applies the lifecycle state of a verified, known certificate.
func (a *Authority) admit(id string, st store.State) error {
	switch st {
	case store.StateActive:
		return nil
	case store.StateSuspended:
		return refuse(ReasonSuspended, nil)
	case store.StateRevoked:
		return refuse(ReasonRevoked, nil)
	case store.StateInactive:
		err := a.activate(id)
		if err == nil {
			return nil
		}
		// A concurrent handshake or operator got there first: decide on what won.
		if now, ok := a.snap.get(id); ok && now.state != store.StateInactive {
			return a.admit(id, now.state)
		}
		return refuse(ReasonInternal, err)
	}
	return refuse(ReasonInternal, fmt.Errorf("certificate %s has unknown state %q", id, st))
}

// autoRegister stores a certificate from a non-strict operator CA on first
// use, then activates it.
func (a *Authority) autoRegister(leaf *x509.Certificate, id string, fp [32]byte) error {
	kt, _ := keyTypeOf(leaf.PublicKey)
	rec := certRecord(leaf, kt, store.SourceAutoRegistered, a.opts.now())
	err := a.register(rec, "broker", "registered on first use, issued by "+leaf.Issuer.String())
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
