package pki_test

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"

	"golang.org/x/crypto/ocsp"

	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
	"github.com/gatehouse/gatehouse/store"
)

// relyingParty parses the leaf and issuing CA a relying party would hold.
func relyingParty(t *testing.T, a *pki.Authority, iss pki.Issued) (leaf, issuer *x509.Certificate) {
	t.Helper()
	chain := chainOf(t, pkitest.ClientTLS(t, iss))
	block, _ := pem.Decode(a.IssuingPEM())
	issuer, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return chain[0], issuer
}

// crlEntry returns the CRL's entry for leaf, checking the list's signature.
func crlEntry(t *testing.T, a *pki.Authority, leaf, issuer *x509.Certificate) (x509.RevocationListEntry, bool) {
	t.Helper()
	der, err := a.CRL("")
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		t.Fatalf("CRL not signed by the issuing CA: %v", err)
	}
	if !crl.NextUpdate.After(crl.ThisUpdate) {
		t.Fatalf("CRL nextUpdate %v not after thisUpdate %v", crl.NextUpdate, crl.ThisUpdate)
	}
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
			return e, true
		}
	}
	return x509.RevocationListEntry{}, false
}

func ocspAnswer(t *testing.T, a *pki.Authority, leaf, issuer *x509.Certificate) *ocsp.Response {
	t.Helper()
	req, err := ocsp.CreateRequest(leaf, issuer, nil)
	if err != nil {
		t.Fatal(err)
	}
	der, err := a.OCSP(req)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ocsp.ParseResponseForCert(der, leaf, issuer)
	if err != nil {
		t.Fatalf("parse OCSP response: %v", err)
	}
	return resp
}

// A relying party sees each lifecycle step through both the CRL and OCSP.
func TestRevocationFollowsTheLifecycle(t *testing.T) {
	a, _ := pkitest.New(t)
	iss := pkitest.Issue(t, a, "dev1")
	other := pkitest.Issue(t, a, "dev2")
	leaf, issuer := relyingParty(t, a, iss)
	steps := []struct {
		name       string
		to         store.State
		onCRL      bool
		reason     int
		ocspStatus int
	}{
		{"ok/issued is good", "", false, 0, ocsp.Good},
		{"ok/active is good", store.StateActive, false, 0, ocsp.Good},
		{"ok/suspended is on hold", store.StateSuspended, true, ocsp.CertificateHold, ocsp.Revoked},
		{"ok/reactivated is good again", store.StateActive, false, 0, ocsp.Good},
		{"ok/revoked stays revoked", store.StateRevoked, true, ocsp.Unspecified, ocsp.Revoked},
	}
	for _, s := range steps {
		if s.to != "" {
			if _, err := a.Transition(iss.Cert.ID, s.to, "test", "step", 0); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
		}
		e, listed := crlEntry(t, a, leaf, issuer)
		if listed != s.onCRL || (listed && e.ReasonCode != s.reason) {
			t.Errorf("%s: CRL listed=%v reason=%d, want listed=%v reason=%d", s.name, listed, e.ReasonCode, s.onCRL, s.reason)
		}
		resp := ocspAnswer(t, a, leaf, issuer)
		if resp.Status != s.ocspStatus {
			t.Errorf("%s: OCSP status %d, want %d", s.name, resp.Status, s.ocspStatus)
		}
		if resp.Status == ocsp.Revoked && (resp.RevocationReason != s.reason || resp.RevokedAt.IsZero()) {
			t.Errorf("%s: OCSP reason %d at %v, want reason %d with a time", s.name, resp.RevocationReason, resp.RevokedAt, s.reason)
		}
	}
	otherLeaf, _ := relyingParty(t, a, other)
	if _, listed := crlEntry(t, a, otherLeaf, issuer); listed {
		t.Error("an untouched certificate is on the CRL")
	}
	if resp := ocspAnswer(t, a, otherLeaf, issuer); resp.Status != ocsp.Good {
		t.Errorf("untouched certificate: OCSP status %d, want good", resp.Status)
	}
}

func TestOCSPUnknownAndForeign(t *testing.T) {
	a, _ := pkitest.New(t)
	_, issuer := relyingParty(t, a, pkitest.Issue(t, a, "dev1"))

	// A serial this CA never issued: unknown, still signed by the CA.
	foreignTLS, foreignCA := pkitest.Foreign(t, "stranger")
	stranger := chainOf(t, foreignTLS)[0]
	if resp := ocspAnswer(t, a, stranger, issuer); resp.Status != ocsp.Unknown {
		t.Errorf("unknown serial: OCSP status %d, want unknown", resp.Status)
	}

	// A request naming another CA as issuer is not ours to answer.
	req, err := ocsp.CreateRequest(stranger, foreignCA, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.OCSP(req); !errors.Is(err, pki.ErrUnknownIssuer) {
		t.Errorf("foreign issuer: err %v, want ErrUnknownIssuer", err)
	}
	if _, err := a.OCSP([]byte("not an OCSP request")); !errors.Is(err, pki.ErrMalformed) {
		t.Errorf("garbage: err %v, want ErrMalformed", err)
	}
}

// A certificate retired by its renewal is published as superseded.
func TestSupersededIsPublishedAsSuch(t *testing.T) {
	a, _ := pkitest.New(t)
	old := pkitest.Issue(t, a, "dev-s")
	leaf, issuer := relyingParty(t, a, old)
	next, err := a.Renew(old.Cert.ID, 0, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := a.Supersede(next.Cert, 0); !ok || err != nil {
		t.Fatalf("Supersede: %v %v", ok, err)
	}
	if e, listed := crlEntry(t, a, leaf, issuer); !listed || e.ReasonCode != ocsp.Superseded {
		t.Errorf("CRL listed=%v reason=%d, want superseded", listed, e.ReasonCode)
	}
	if resp := ocspAnswer(t, a, leaf, issuer); resp.Status != ocsp.Revoked || resp.RevocationReason != ocsp.Superseded {
		t.Errorf("OCSP %d/%d, want revoked/superseded", resp.Status, resp.RevocationReason)
	}
	if _, ok, err := a.Supersede(next.Cert, 0); ok || err != nil {
		t.Errorf("a second Supersede: ok=%v err=%v, want nothing to do", ok, err)
	}
}
