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

// CRLPath and OCSPPath are where a Gatehouse HTTP server publishes
// revocation data, relative to its public URL.
const (
	CRLPath  = "/crl/" + DefaultIssuer + ".crl"
	OCSPPath = "/ocsp"
)

// addRevocationURLs names the CRL distribution point and the OCSP responder
// (AIA) in a client leaf when the operator has set a public URL.
func (a *Authority) addRevocationURLs(tmpl *x509.Certificate) error {
	st, err := a.st.Settings()
	if err != nil {
		return err
	}
	if base := strings.TrimRight(st.PublicURL, "/"); base != "" {
		tmpl.CRLDistributionPoints = []string{base + CRLPath}
		tmpl.OCSPServer = []string{base + OCSPPath}
	}
	return nil
}

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

// issuedHere reports whether our issuing CA signed c (issued or CSR-signed),
// so it belongs on our CRL; imported and auto-registered certificates belong
// on their own CA's.
func issuedHere(c store.Cert) bool {
	return c.Source == store.SourceIssued || c.Source == store.SourceSigned
}

// CRL returns a DER certificate revocation list (RFC 5280, v2) of the issuing
// CA, signed by it: every revoked certificate it issued (reason unspecified)
// and every suspended one (certificateHold, taken out again on reactivation).
// The CRL number is the issue time in milliseconds, so it grows with every
// list this CA publishes.
func (a *Authority) CRL() ([]byte, error) {
	now := a.opts.now()
	var entries []x509.RevocationListEntry
	for _, st := range []store.State{store.StateRevoked, store.StateSuspended} {
		certs, _, err := a.st.ListCerts(store.CertQuery{State: st})
		if err != nil {
			return nil, fmt.Errorf("build CRL: %w", err)
		}
		for _, c := range certs {
			if !issuedHere(c) || c.Issuer != a.issuing.Subject.CommonName {
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
	der, err := x509.CreateRevocationList(a.opts.rand, tmpl, a.issuing, a.issuingKey)
	if err != nil {
		return nil, fmt.Errorf("sign CRL: %w", err)
	}
	return der, nil
}

// OCSP answers a DER OCSP request (RFC 6960) from the live store: good for an
// inactive or active certificate, revoked with certificateHold for a
// suspended one, revoked for a revoked one, unknown for a serial the store
// does not hold. The issuing CA signs the response itself. A request for
// another issuer yields ErrUnknownIssuer; a malformed one ErrMalformed.
func (a *Authority) OCSP(reqDER []byte) ([]byte, error) {
	req, err := ocsp.ParseRequest(reqDER)
	if err != nil {
		return nil, fmt.Errorf("%w: OCSP request: %v", ErrMalformed, err)
	}
	if !a.namesIssuer(req) {
		return nil, ErrUnknownIssuer
	}
	now := a.opts.now()
	tmpl := ocsp.Response{
		Status:       ocsp.Unknown,
		SerialNumber: req.SerialNumber,
		ThisUpdate:   now.Add(-backdate).UTC(),
		NextUpdate:   now.Add(OCSPValidity).UTC(),
	}
	c, err := a.st.GetCert(store.CertID(FormatSerial(req.SerialNumber), a.issuing.RawSubject))
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("answer OCSP: %w", err)
	case issuedHere(c) && c.Issuer == a.issuing.Subject.CommonName:
		tmpl.Status = ocsp.Good
		if e, revoked := revocationEntry(c); revoked {
			tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, e.at.UTC(), e.reason
		}
	}
	resp, err := ocsp.CreateResponse(a.issuing, a.issuing, tmpl, a.issuingKey)
	if err != nil {
		return nil, fmt.Errorf("sign OCSP response: %w", err)
	}
	return resp, nil
}

// namesIssuer checks the request's issuer name and key hashes against the
// issuing CA, with whichever hash the client chose.
func (a *Authority) namesIssuer(req *ocsp.Request) bool {
	h := req.HashAlgorithm
	if h == 0 || !h.Available() {
		h = crypto.SHA1
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(a.issuing.RawSubjectPublicKeyInfo, &spki); err != nil {
		return false
	}
	name, key := h.New(), h.New()
	name.Write(a.issuing.RawSubject)
	key.Write(spki.PublicKey.RightAlign())
	return bytes.Equal(name.Sum(nil), req.IssuerNameHash) && bytes.Equal(key.Sum(nil), req.IssuerKeyHash)
}
