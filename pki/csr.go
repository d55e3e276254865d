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
	block, _ := pem.Decode(csrPEM)
	if block == nil {
		return Issued{}, fmt.Errorf("sign CSR: %w: no PEM block found", ErrMalformed)
	}
	if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
		return Issued{}, fmt.Errorf("sign CSR: %w: PEM block %q is not a CERTIFICATE REQUEST", ErrMalformed, block.Type)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return Issued{}, fmt.Errorf("sign CSR: %w: %v", ErrMalformed, err)
	}
	if weakSignature(csr.SignatureAlgorithm) {
		return Issued{}, fmt.Errorf("sign CSR: %w: signed with %s", ErrWeakKey, csr.SignatureAlgorithm)
	}
	if err := csr.CheckSignature(); err != nil {
		return Issued{}, fmt.Errorf("sign CSR: %w: signature does not verify: %v", ErrMalformed, err)
	}
	if err := a.refuseBlocked(csr.RawSubjectPublicKeyInfo, "sign CSR"); err != nil {
		return Issued{}, err
	}
	kt, err := keyTypeOf(csr.PublicKey)
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
	if ttl == 0 {
		ttl = DefaultClientTTL
	}
	now := a.opts.now()
	end, err := a.notAfter(now, ttl)
	if err != nil {
		return Issued{}, fmt.Errorf("sign CSR %q: %w", cn, err)
	}
	iss, err := a.issueLeaf(cn, now, end, csr.PublicKey, csr, kt, store.SourceSigned, actor)
	if err != nil {
		return Issued{}, fmt.Errorf("sign CSR %q: %w", cn, err)
	}
	return iss, nil
}
