package pki

import (
	"bytes"
	"crypto"
	_ "crypto/sha1" // RFC 6960 names issuers by SHA-1 hashes by default; nothing is signed with it
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/gatehouse/gatehouse/store"
)

// Validity of published revocation data. A relying party fetches a new CRL
// or OCSP answer at NextUpdate at the latest; a state change makes the next
// request see it at once, since both are built from the live store.
const (
	CRLValidity  = 24 * time.Hour
	OCSPValidity = time.Hour
)

// Revocation reason codes of RFC 5280 section 5.3.1 used by Gatehouse.
const (
	reasonUnspecified     = 0
	reasonSuperseded      = 4
	reasonCertificateHold = 6
)

// DefaultIssuer names the built-in issuing CA in CRL paths and --issuer.
const DefaultIssuer = "default"

// OCSPPath is where a Gatehouse HTTP server answers OCSP, relative to its
// public URL.
const OCSPPath = "/ocsp"

// addRevocationURLs names the CRL distribution point and the OCSP responder
// (AIA) in a client leaf when the operator has set a public URL.
func (a *Authority) addRevocationURLs(tmpl *x509.Certificate, ica *issuer) error {
	st, err := a.st.Settings()
	if err != nil {
		return err
	}
	if base := strings.TrimRight(st.PublicURL, "/"); base != "" {
		tmpl.CRLDistributionPoints = []string{base + CRLPathOf(ica.name)}
		tmpl.OCSPServer = []string{base + OCSPPath}
	}
	return nil
}

// CRLPathOf is where a Gatehouse HTTP server publishes the CRL of the
// issuing CA called name.
func CRLPathOf(name string) string { return "/crl/" + name + ".crl" }

// ErrUnknownIssuer means a CRL or OCSP request names an issuer this
// Authority does not sign for.
var ErrUnknownIssuer = errors.New("unknown issuer")

// revokedEntry is one certificate a relying party must refuse.
type revokedEntry struct {
	serial *big.Int
	at     time.Time
	reason int
}

// revocationEntry maps a stored state to what a relying party sees:
// suspended is the reversible certificateHold, revoked is final; inactive and
// active are good.
func revocationEntry(c store.Cert) (revokedEntry, bool) {
	var reason int
	switch c.State {
	case store.StateRevoked:
		reason = reasonUnspecified
		if strings.HasPrefix(c.Reason, ReasonSuperseded) {
			reason = reasonSuperseded
		}
	case store.StateSuspended:
		reason = reasonCertificateHold
	default:
		return revokedEntry{}, false
	}
	n, ok := new(big.Int).SetString(c.Serial, 16)
	if !ok {
		return revokedEntry{}, false
	}
	at := c.StateChangedAt
	if at.IsZero() {
		at = c.CreatedAt
	}
	return revokedEntry{serial: n, at: at, reason: reason}, true
}

// issuedBy reports whether the issuing CA ica signed c (issued or
// CSR-signed), so it belongs on that CA's CRL; imported and auto-registered
// certificates belong on their own CA's.
func issuedBy(ica *issuer, c store.Cert) bool {
	return (c.Source == store.SourceIssued || c.Source == store.SourceSigned) && strings.HasSuffix(c.ID, ica.idSuffix)
}

// CRL returns a DER certificate revocation list (RFC 5280, v2) of the
// issuing CA called name ("" for the default one), signed by it: every
// revoked certificate it issued (reason unspecified) and every suspended one
// (certificateHold, taken out again on reactivation). The CRL number is the
// issue time in milliseconds, so it grows with every list this CA publishes.
func (a *Authority) CRL(name string) ([]byte, error) {
	ica, err := a.issuer(name)
	if err != nil {
		return nil, err
	}
	now := a.opts.now()
	var entries []x509.RevocationListEntry
	for _, st := range []store.State{store.StateRevoked, store.StateSuspended} {
		certs, _, err := a.st.ListCerts(store.CertQuery{State: st})
		if err != nil {
			return nil, fmt.Errorf("build CRL: %w", err)
		}
		for _, c := range certs {
			if !issuedBy(ica, c) {
				continue
			}
			e, ok := revocationEntry(c)
			if !ok {
				continue
			}
			entries = append(entries, x509.RevocationListEntry{
				SerialNumber: e.serial, RevocationTime: e.at.UTC(), ReasonCode: e.reason,
			})
		}
	}
	tmpl := &x509.RevocationList{
		Number:                    big.NewInt(now.UnixMilli()),
		ThisUpdate:                now.Add(-backdate).UTC(),
		NextUpdate:                now.Add(CRLValidity).UTC(),
		RevokedCertificateEntries: entries,
	}
	der, err := x509.CreateRevocationList(a.opts.rand, tmpl, ica.cert, ica.key)
	if err != nil {
		return nil, fmt.Errorf("sign CRL: %w", err)
	}
	return der, nil
}

// OCSP answers a DER OCSP request (RFC 6960) from the live store: good for an
// inactive or active certificate, revoked with certificateHold for a
// suspended one, revoked for a revoked one, unknown for a serial the store
// does not hold. The issuing CA the request names signs the response
// itself. A request for another issuer yields ErrUnknownIssuer; a malformed
// one ErrMalformed.
func (a *Authority) OCSP(reqDER []byte) ([]byte, error) {
	req, err := ocsp.ParseRequest(reqDER)
	if err != nil {
		return nil, fmt.Errorf("%w: OCSP request: %v", ErrMalformed, err)
	}
	ica := a.namedIn(req)
	if ica == nil {
		return nil, ErrUnknownIssuer
	}
	now := a.opts.now()
	tmpl := ocsp.Response{
		Status:       ocsp.Unknown,
		SerialNumber: req.SerialNumber,
		ThisUpdate:   now.Add(-backdate).UTC(),
		NextUpdate:   now.Add(OCSPValidity).UTC(),
	}
	c, err := a.st.GetCert(store.CertID(FormatSerial(req.SerialNumber), ica.cert.RawSubject))
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("answer OCSP: %w", err)
	case issuedBy(ica, c):
		tmpl.Status = ocsp.Good
		if e, revoked := revocationEntry(c); revoked {
			tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, e.at.UTC(), e.reason
		}
	}
	resp, err := ocsp.CreateResponse(ica.cert, ica.cert, tmpl, ica.key)
	if err != nil {
		return nil, fmt.Errorf("sign OCSP response: %w", err)
	}
	return resp, nil
}

// namedIn returns the issuing CA whose name and key hashes the request
// carries (with whichever hash the client chose), or nil.
func (a *Authority) namedIn(req *ocsp.Request) *issuer {
	h := req.HashAlgorithm
	if h == 0 || !h.Available() {
		h = crypto.SHA1
	}
	for _, ica := range a.issuers.Load().byName {
		var spki struct {
			Algorithm pkix.AlgorithmIdentifier
			PublicKey asn1.BitString
		}
		if _, err := asn1.Unmarshal(ica.cert.RawSubjectPublicKeyInfo, &spki); err != nil {
			continue
		}
		name, key := h.New(), h.New()
		name.Write(ica.cert.RawSubject)
		key.Write(spki.PublicKey.RightAlign())
		if bytes.Equal(name.Sum(nil), req.IssuerNameHash) && bytes.Equal(key.Sum(nil), req.IssuerKeyHash) {
			return ica
		}
	}
	return nil
}
