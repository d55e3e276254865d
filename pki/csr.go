package pki

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// SignCSR signs a PEM certificate request after checking its signature. Only
// the CN and DNS/IP SANs are copied; the key never leaves the device.
func (a *Authority) SignCSR(csrPEM []byte, ttl time.Duration, actor string) (Issued, error) {
	csr, kt, err := a.parseCSR(csrPEM)
	if err != nil {
		return Issued{}, fmt.Errorf("sign CSR: %w", err)
	}
	cn := csr.Subject.CommonName
	if cn == "" {
		if cn, err = a.defaultCN(); err != nil {
			return Issued{}, err
		}
	}
	if err := checkCN(cn); err != nil {
		return Issued{}, fmt.Errorf("sign CSR: %w", err)
	}
	ica := a.issuers.Load().def
	now := a.opts.now()
	end, err := a.notAfter(ica, now, orDefaultTTL(ttl))
	if err != nil {
		return Issued{}, fmt.Errorf("sign CSR %q: %w", cn, err)
	}
	iss, err := a.issueLeaf(leafSpec{cn: cn, now: now, end: end, pub: csr.PublicKey, csr: csr, kt: kt, src: store.SourceSigned, iss: ica}, actor)
	if err != nil {
		return Issued{}, fmt.Errorf("sign CSR %q: %w", cn, err)
	}
	return iss, nil
}

// parseCSR decodes a PEM certificate request and checks its signature, its
// key type and that its key was not blocked by a revoke.
func (a *Authority) parseCSR(csrPEM []byte) (*x509.CertificateRequest, KeyType, error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil {
		return nil, "", fmt.Errorf("%w: no PEM block found", ErrMalformed)
	}
	if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
		return nil, "", fmt.Errorf("%w: PEM block %q is not a CERTIFICATE REQUEST", ErrMalformed, block.Type)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if weakSignature(csr.SignatureAlgorithm) {
		return nil, "", fmt.Errorf("%w: signed with %s", ErrWeakKey, csr.SignatureAlgorithm)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, "", fmt.Errorf("%w: signature does not verify: %v", ErrMalformed, err)
	}
	if err := a.refuseBlocked(csr.RawSubjectPublicKeyInfo, "the CSR's key"); err != nil {
		return nil, "", err
	}
	kt, err := keyTypeOf(csr.PublicKey)
	if err != nil {
		return nil, "", err
	}
	return csr, kt, nil
}

// orDefaultTTL is ttl, or DefaultClientTTL when ttl is zero.
func orDefaultTTL(ttl time.Duration) time.Duration {
	if ttl == 0 {
		return DefaultClientTTL
	}
	return ttl
}
