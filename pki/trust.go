package pki

import (
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/gatehouse/gatehouse/store"
)

// trustSet is the immutable verification material swapped as a whole when an
// operator trusts a CA; only its chain cache, which goes with it, changes.
type trustSet struct {
	roots         *x509.CertPool // our root and every operator-trusted CA
	intermediates *x509.CertPool // our issuing CA
	cas           []*x509.Certificate
	trusted       map[string]store.CA // operator CAs by fingerprint
	ours          map[string]bool     // our roots and issuing CAs by fingerprint
	suspended     map[string]bool     // issuing CAs an operator suspended, by fingerprint
	chains        *chainCache         // chains verified against this set; see chaincache.go
}

// reloadTrust rebuilds the trust set from the store. Callers hold a.mu, except
// Init which runs before the Authority is shared.
func (a *Authority) reloadTrust() error {
	cas, err := a.st.ListCAs()
	if err != nil {
		return err
	}
	t := &trustSet{
		roots:         x509.NewCertPool(),
		intermediates: x509.NewCertPool(),
		trusted:       map[string]store.CA{},
		ours:          map[string]bool{},
		suspended:     map[string]bool{},
		chains:        newChainCache(chainCacheSize),
	}
	for _, ca := range cas {
		cert, err := parseCertPEM([]byte(ca.CertPEM))
		if err != nil {
			return fmt.Errorf("stored CA %s: %w", ca.ID, err)
		}
		t.cas = append(t.cas, cert)
		switch ca.Role {
		case store.RoleRoot:
			t.roots.AddCert(cert)
			t.ours[ca.ID] = true
		case store.RoleIssuing:
			t.intermediates.AddCert(cert)
			t.ours[ca.ID] = true
			if ca.Suspended {
				t.suspended[ca.ID] = true
			}
		case store.RoleTrusted:
			t.roots.AddCert(cert)
			ca.KeyPEM = ""
			t.trusted[ca.ID] = ca
		}
	}
	a.trust.Store(t)
	return nil
}

// Trust adds the CA certificates in chainPEM as operator-trusted anchors:
// client certificates they issued are accepted. With strict, only certificates
// imported beforehand are accepted; otherwise unknown ones are registered on
// first use. Certificates already stored are skipped; it returns the CAs added
// (KeyPEM empty) and an error wrapping store.ErrExists if there were none.
func (a *Authority) Trust(chainPEM []byte, strict bool, actor string) ([]store.CA, error) {
	certs, err := parseCertsPEM(chainPEM)
	if err != nil {
		return nil, fmt.Errorf("trust CA: %w", err)
	}
	for _, c := range certs {
		if !c.BasicConstraintsValid || !c.IsCA {
			return nil, fmt.Errorf("trust CA %q: %w: a CA needs basic constraints CA:TRUE", c.Subject.String(), ErrNotCA)
		}
		if _, err := keyTypeOf(c.PublicKey); err != nil {
			return nil, fmt.Errorf("trust CA %q: %w", c.Subject.String(), err)
		}
		if weakSignature(c.SignatureAlgorithm) {
			return nil, fmt.Errorf("trust CA %q: %w: signed with %s", c.Subject.String(), ErrWeakKey, c.SignatureAlgorithm)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.opts.now()
	var added []store.CA
	for _, c := range certs {
		rec := caRecord(c, store.RoleTrusted, now)
		rec.Strict = strict
		detail := fmt.Sprintf("trusted CA %q", rec.Subject)
		if strict {
			detail += " (strict: imported certificates only)"
		}
		err := a.st.PutCA(rec, store.AuditRecord{At: now, Actor: actor, Action: "ca.trust", Detail: detail})
		if errors.Is(err, store.ErrExists) {
			continue
		}
		if err != nil {
			return added, fmt.Errorf("trust CA: %w", err)
		}
		added = append(added, rec)
	}
	if err := a.reloadTrust(); err != nil {
		return added, fmt.Errorf("trust CA: reload: %w", err)
	}
	if len(added) == 0 {
		return nil, fmt.Errorf("trust CA: every certificate given is already a CA here: %w", store.ErrExists)
	}
	return added, nil
}
