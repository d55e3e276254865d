package pki

import (
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// ReasonSuperseded starts the revocation reason of a certificate replaced by
// its renewal; the CRL and OCSP report it as RFC 5280's superseded.
const ReasonSuperseded = "superseded"

// Renew issues the successor of a certificate this CA issued: the same CN, a
// new key generated here (csrPEM nil, the key returned once) or the key of
// the device's CSR, whose CN must be empty or the same. A zero ttl keeps the
// old certificate's lifetime. The old certificate
// stays valid until the successor is first used; then Supersede retires it.
// A suspended or revoked certificate is not renewed: reactivate it first, or
// issue a new one.
func (a *Authority) Renew(id string, ttl time.Duration, csrPEM []byte, actor string) (Issued, error) {
	old, err := a.st.GetCert(id)
	if err != nil {
		return Issued{}, fmt.Errorf("renew %s: %w", old.Serial, err)
	}
	if old.Source != store.SourceIssued && old.Source != store.SourceSigned {
		return Issued{}, fmt.Errorf("renew %s: %w: it was %s, not issued by this CA: renew it where it was issued", old.Serial, ErrTransition, old.Source)
	}
	if old.State != store.StateInactive && old.State != store.StateActive {
		return Issued{}, fmt.Errorf("renew %s: %w: it is %s", old.Serial, ErrTransition, old.State)
	}
	if ttl == 0 { // keep the lifetime the old certificate was issued for
		ttl = old.NotAfter.Sub(old.NotBefore) - backdate
	}
	ica, ours := a.issuerOf(old)
	if !ours {
		return Issued{}, fmt.Errorf("renew %s: %w: its issuing CA is not here any more", old.Serial, ErrTransition)
	}
	now := a.opts.now()
	end, err := a.notAfter(ica, now, orDefaultTTL(ttl))
	if err != nil {
		return Issued{}, fmt.Errorf("renew %s: %w", old.Serial, err)
	}
	spec := leafSpec{cn: old.CN, now: now, end: end, renews: old.ID, iss: ica}
	var keyPEM []byte
	if csrPEM != nil {
		csr, kt, err := a.parseCSR(csrPEM)
		if err != nil {
			return Issued{}, fmt.Errorf("renew %s: %w", old.Serial, err)
		}
		if cn := csr.Subject.CommonName; cn != "" && cn != old.CN {
			return Issued{}, fmt.Errorf("renew %s: %w: the CSR is for CN %q, the certificate for %q", old.Serial, ErrMalformed, cn, old.CN)
		}
		spec.pub, spec.csr, spec.kt, spec.src = csr.PublicKey, csr, kt, store.SourceSigned
	} else {
		kt := KeyType(old.KeyType)
		if _, err := ParseKeyType(string(kt)); err != nil {
			kt = a.opts.keyType
		}
		key, err := generateKey(kt, a.opts.rand)
		if err != nil {
			return Issued{}, fmt.Errorf("renew %s: generate %s key: %w", old.Serial, kt, err)
		}
		if keyPEM, err = encodeKey(key); err != nil {
			return Issued{}, err
		}
		spec.pub, spec.kt, spec.src = key.Public(), kt, store.SourceIssued
	}
	iss, err := a.issueLeaf(spec, actor)
	if err != nil {
		return Issued{}, fmt.Errorf("renew %s: %w", old.Serial, err)
	}
	iss.KeyPEM = keyPEM
	return iss, nil
}

// Supersede revokes the certificate that successor renews, once the
// successor has been used, with reason "superseded by SUCCESSOR". It returns
// the retired record, or ok false when there is nothing to retire (no
// predecessor, or it is revoked already).
func (a *Authority) Supersede(successor store.Cert, dropped int) (store.Cert, bool, error) {
	if successor.Renews == "" {
		return store.Cert{}, false, nil
	}
	old, err := a.Transition(successor.Renews, store.StateRevoked, "broker", ReasonSuperseded+" by "+successor.Serial, dropped)
	if err != nil {
		if errors.Is(err, ErrTransition) {
			return store.Cert{}, false, nil
		}
		return store.Cert{}, false, err
	}
	return old, true, nil
}
