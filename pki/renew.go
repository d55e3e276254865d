package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// ReasonSuperseded starts the revocation reason of a certificate replaced by
// its renewal; the CRL and OCSP report it as RFC 5280's superseded.
const ReasonSuperseded = "superseded"

// ErrRenewalPending means a certificate already has a successor that was
// never used: use it, or revoke it, before renewing again.
var ErrRenewalPending = errors.New("renewal pending")

// renewing serialises the pending-successor check with the registration of
// the successor, so two renewals at once cannot both find none.
var renewing sync.Mutex

// Renew issues the successor of a certificate this CA issued, for an
// operator: the same CN, a new key generated here (csrPEM nil, the key
// returned once; the old certificate's SANs are kept) or the key and SANs of
// the device's CSR, whose CN must be empty or the same. A zero ttl keeps the
// old certificate's lifetime. The old certificate stays valid until the
// successor is first used; then Supersede retires it. A suspended or revoked
// certificate is not renewed (reactivate it first, or issue a new one), nor
// one whose earlier successor was never used (ErrRenewalPending).
func (a *Authority) Renew(id string, ttl time.Duration, csrPEM []byte, actor string) (Issued, error) {
	return a.renew(id, ttl, csrPEM, actor, false)
}

// RenewSelf is Renew asked by the device itself (in-band, over MQTT) with its
// CSR: the successor keeps the old lifetime and only those of the CSR's SANs
// the old certificate has, since no operator reviewed the others.
func (a *Authority) RenewSelf(id string, csrPEM []byte, actor string) (Issued, error) {
	return a.renew(id, 0, csrPEM, actor, true)
}

func (a *Authority) renew(id string, ttl time.Duration, csrPEM []byte, actor string, self bool) (Issued, error) {
	renewing.Lock()
	defer renewing.Unlock()
	old, err := a.st.GetCert(id)
	if err != nil {
		return Issued{}, fmt.Errorf("renew %s: %w", id, err)
	}
	if old.Source != store.SourceIssued && old.Source != store.SourceSigned {
		return Issued{}, fmt.Errorf("renew %s: %w: it was %s, not issued by this CA: renew it where it was issued", old.Serial, ErrTransition, old.Source)
	}
	if old.State != store.StateInactive && old.State != store.StateActive {
		return Issued{}, fmt.Errorf("renew %s: %w: it is %s", old.Serial, ErrTransition, old.State)
	}
	if err := a.refusePending(old); err != nil {
		return Issued{}, err
	}
	if ttl == 0 { // keep the lifetime the old certificate was issued for
		ttl = old.NotAfter.Sub(old.NotBefore) - backdate
	}
	ica, ours := a.issuerOf(old)
	if !ours {
		return Issued{}, fmt.Errorf("renew %s: %w: its issuing CA is not here any more", old.Serial, ErrTransition)
	}
	oldLeaf, err := parseCertPEM([]byte(old.CertPEM))
	if err != nil {
		return Issued{}, fmt.Errorf("renew %s: %w", old.Serial, err)
	}
	now := a.opts.now()
	end, err := a.notAfter(ica, now, orDefaultTTL(ttl))
	if err != nil {
		return Issued{}, fmt.Errorf("renew %s: %w", old.Serial, err)
	}
	spec := leafSpec{cn: old.CN, now: now, end: end, renews: old.ID, iss: ica,
		csr: &x509.CertificateRequest{DNSNames: oldLeaf.DNSNames, IPAddresses: oldLeaf.IPAddresses}}
	var keyPEM []byte
	if csrPEM != nil {
		csr, kt, err := a.parseCSR(csrPEM)
		if err != nil {
			return Issued{}, fmt.Errorf("renew %s: %w", old.Serial, err)
		}
		if cn := csr.Subject.CommonName; cn != "" && cn != old.CN {
			return Issued{}, fmt.Errorf("renew %s: %w: the CSR is for CN %q, the certificate for %q", old.Serial, ErrMalformed, cn, old.CN)
		}
		spec.pub, spec.kt, spec.src = csr.PublicKey, kt, store.SourceSigned
		if self {
			spec.csr = keptSANs(csr, oldLeaf)
		} else {
			spec.csr = csr
		}
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
	if err := a.followPredecessor(old, iss.Cert, actor); err != nil {
		return Issued{}, err
	}
	iss.KeyPEM = keyPEM
	return iss, nil
}

// refusePending returns ErrRenewalPending, naming the successor, when old
// has a successor that is still inactive.
func (a *Authority) refusePending(old store.Cert) error {
	certs, _, err := a.st.ListCerts(store.CertQuery{State: store.StateInactive, CNPrefix: old.CN})
	if err != nil {
		return fmt.Errorf("renew %s: %w", old.Serial, err)
	}
	for _, c := range certs {
		if c.Renews == old.ID && c.CN == old.CN {
			return fmt.Errorf("renew %s: %w: %s, not used yet: use it or revoke it first", old.Serial, ErrRenewalPending, c.Serial)
		}
	}
	return nil
}

// followPredecessor moves the just registered successor to the state of old
// if an operator suspended or revoked old while it was being signed. A
// transition of old that ran after the registration moved the successor
// itself (Transition's followers), so this unlocked read closes the race.
func (a *Authority) followPredecessor(old, succ store.Cert, actor string) error {
	now, err := a.st.GetCert(old.ID)
	if err != nil {
		return fmt.Errorf("renew %s: %w", old.Serial, err)
	}
	if now.State != store.StateSuspended && now.State != store.StateRevoked {
		return nil
	}
	why := string(now.State) + " with its predecessor " + old.Serial + " during the renewal"
	if _, err := a.move(succ.ID, move{from: []store.State{store.StateInactive}, to: now.State}, store.AuditRecord{Actor: actor, Reason: why}); err != nil &&
		!errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("renew %s: %w", old.Serial, err)
	}
	return fmt.Errorf("renew %s: %w: it became %s during the renewal", old.Serial, ErrTransition, now.State)
}

// keptSANs is what a device's own CSR may carry over: the DNS names and IP
// addresses its current certificate already has.
func keptSANs(csr *x509.CertificateRequest, old *x509.Certificate) *x509.CertificateRequest {
	out := &x509.CertificateRequest{}
	for _, n := range csr.DNSNames {
		if slices.ContainsFunc(old.DNSNames, func(o string) bool { return strings.EqualFold(o, n) }) {
			out.DNSNames = append(out.DNSNames, n)
		}
	}
	for _, ip := range csr.IPAddresses {
		if slices.ContainsFunc(old.IPAddresses, ip.Equal) {
			out.IPAddresses = append(out.IPAddresses, ip)
		}
	}
	return out
}

// Supersede revokes the certificate that successor renews, once the
// successor has been used, with reason "superseded by SUCCESSOR". Only an
// inactive or active predecessor is retired (a compare-and-swap): a
// suspended one stays as the operator left it. Superseded is no compromise:
// the successor's key is not blocked when it is the old one's. It returns
// the retired record, or ok false when there is nothing to retire (no
// predecessor, or it is suspended or revoked).
func (a *Authority) Supersede(successor store.Cert, dropped int) (store.Cert, bool, error) {
	if successor.Renews == "" {
		return store.Cert{}, false, nil
	}
	leaf, err := parseCertPEM([]byte(successor.CertPEM))
	if err != nil {
		return store.Cert{}, false, fmt.Errorf("supersede by %s: %w", successor.Serial, err)
	}
	m := move{from: []store.State{store.StateInactive, store.StateActive}, to: store.StateRevoked, spare: store.SPKIHash(leaf.RawSubjectPublicKeyInfo)}
	old, err := a.move(successor.Renews, m, store.AuditRecord{Actor: "broker", Reason: ReasonSuperseded + " by " + successor.Serial, Dropped: dropped})
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.Cert{}, false, nil
		}
		return store.Cert{}, false, err
	}
	return old, true, nil
}
