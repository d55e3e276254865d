package pki

import (
	"errors"
	"fmt"

	"github.com/gatehouse/gatehouse/store"
)

// ImportClient registers a client certificate issued elsewhere (state
// inactive, source imported). It must chain to a trusted CA (ours or
// operator-trusted), carry the clientAuth EKU, be valid now and pass the key
// rules (no RSA below 2048 bits, only P-256/P-384/Ed25519 curves, no SHA-1). Extra
// certificates after the leaf in certPEM are used as intermediates.
func (a *Authority) ImportClient(certPEM []byte, actor string) (store.Cert, error) {
	certs, err := parseCertsPEM(certPEM)
	if err != nil {
		return store.Cert{}, fmt.Errorf("import certificate: %w", err)
	}
	leaf := certs[0]
	if leaf.IsCA {
		return store.Cert{}, fmt.Errorf("import certificate %q: it is a CA certificate: use ca trust", leaf.Subject.CommonName)
	}
	if _, _, err := a.verifyChain(certs); err != nil {
		var r *Refusal
		if errors.As(err, &r) && (r.Why == ReasonWeakKey || r.Why == ReasonWeakSignature) {
			return store.Cert{}, fmt.Errorf("import certificate %q: %w: %w", leaf.Subject.CommonName, ErrWeakKey, err)
		}
		return store.Cert{}, fmt.Errorf("import certificate %q: %w: %w", leaf.Subject.CommonName, ErrUntrusted, err)
	}
	if err := a.refuseBlocked(leaf.RawSubjectPublicKeyInfo, fmt.Sprintf("import certificate %q", leaf.Subject.CommonName)); err != nil {
		return store.Cert{}, err
	}
	// verify applied the key rules, so the key is named.
	kt, err := keyTypeOf(leaf.PublicKey)
	if err != nil {
		return store.Cert{}, fmt.Errorf("import certificate %q: %w", leaf.Subject.CommonName, err)
	}
	rec := certRecord(leaf, kt, store.SourceImported, a.opts.now())
	if err := a.register(rec, actor, "imported certificate issued by "+leaf.Issuer.String()); err != nil {
		return store.Cert{}, fmt.Errorf("import certificate %q: %w", leaf.Subject.CommonName, err)
	}
	return rec, nil
}
