package pki_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
	"github.com/gatehouse/gatehouse/store"
)

// issueFrom issues a client certificate for cn from the issuer called name.
func issueFrom(t *testing.T, a *pki.Authority, name, cn string) pki.Issued {
	t.Helper()
	iss, err := a.IssueClient(pki.ClientRequest{CN: cn, Issuer: name}, "test")
	if err != nil {
		t.Fatalf("issue %s from %s: %v", cn, name, err)
	}
	return iss
}

// A second issuer signs its own fleet: its certificates pass the handshake
// check, carry its name, are listed on its own CRL only, and suspending it
// refuses them and nothing else.
func TestSecondIssuer(t *testing.T) {
	a, st := pkitest.New(t)
	if _, err := a.CreateIssuer("tenant-a", "ops"); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{"fail/taken": "tenant-a", "fail/default": "default", "fail/upper case": "Tenant", "fail/empty": ""} {
		if _, err := a.CreateIssuer(bad, "ops"); !errors.Is(err, pki.ErrIssuer) {
			t.Errorf("%s: CreateIssuer(%q) = %v, want ErrIssuer", name, bad, err)
		}
	}
	ours := pkitest.Issue(t, a, "dev-default")
	theirs := issueFrom(t, a, "tenant-a", "dev-a")
	chainA := chainOf(t, pkitest.ClientTLS(t, theirs))
	if got := chainA[1].Subject.CommonName; got != "tenant-a" {
		t.Fatalf("tenant-a's certificate is signed by %q", got)
	}
	if err := a.Check(chainA); err != nil {
		t.Fatalf("Check tenant-a's certificate: %v", err)
	}
	if _, err := a.IssueClient(pki.ClientRequest{CN: "x", Issuer: "tenant-b"}, "test"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown issuer: %v", err)
	}

	if _, err := a.Transition(theirs.Cert.ID, store.StateSuspended, "test", "", 0); err != nil {
		t.Fatal(err)
	}
	der, err := a.CRL("tenant-a")
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil || crl.CheckSignatureFrom(chainA[1]) != nil {
		t.Fatalf("tenant-a's CRL: %v", err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(chainA[0].SerialNumber) != 0 {
		t.Fatalf("tenant-a's CRL lists %v", crl.RevokedCertificateEntries)
	}
	if der, _ := a.CRL(""); bytes.Contains(der, chainA[0].SerialNumber.Bytes()) {
		t.Error("the default CRL lists tenant-a's certificate")
	}
	req, _ := ocsp.CreateRequest(chainA[0], chainA[1], nil)
	raw, err := a.OCSP(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := ocsp.ParseResponseForCert(raw, chainA[0], chainA[1]); err != nil || resp.Status != ocsp.Revoked {
		t.Fatalf("OCSP for tenant-a's suspended certificate: %v %v", resp, err)
	}
	if _, err := a.Transition(theirs.Cert.ID, store.StateActive, "test", "", 0); err != nil {
		t.Fatal(err)
	}

	if _, err := a.SuspendIssuer("tenant-a", true, "ops"); err != nil {
		t.Fatal(err)
	}
	if got := reason(a.Check(chainA)); got != pki.ReasonIssuerSuspended {
		t.Errorf("tenant-a suspended: Check says %q", got)
	}
	if err := a.Check(chainOf(t, pkitest.ClientTLS(t, ours))); err != nil {
		t.Errorf("the default issuer's certificate after tenant-a's suspension: %v", err)
	}
	if _, err := a.IssueClient(pki.ClientRequest{CN: "late", Issuer: "tenant-a"}, "test"); !errors.Is(err, pki.ErrIssuer) {
		t.Errorf("issuing from a suspended issuer: %v", err)
	}

	// The store keeps it all: a restart sees the issuer, suspended.
	b, err := pki.Init(st)
	if err != nil {
		t.Fatal(err)
	}
	if got := reason(b.Check(chainA)); got != pki.ReasonIssuerSuspended {
		t.Errorf("after a restart: Check says %q", got)
	}
	if _, err := b.SuspendIssuer("tenant-a", false, "ops"); err != nil {
		t.Fatal(err)
	}
	if err := b.Check(chainA); err != nil {
		t.Errorf("reactivated issuer: %v", err)
	}
	if got := strings.Join(b.Issuers(), ","); got != "default,tenant-a" {
		t.Errorf("Issuers() = %s", got)
	}
}

// offlineCA makes a root (kept by the operator) and an issuing CA under it,
// returning the issuer's chain PEM (issuer, root) and key PEM.
func offlineCA(t *testing.T) (chainPEM, keyPEM []byte, root *x509.Certificate) {
	t.Helper()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Operator Offline Root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ = x509.ParseCertificate(rootDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "instance"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(5 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root, key.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	chainPEM = append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER})...)
	return chainPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), root
}

// An issuing CA the operator brings, signed by an offline root: Gatehouse
// issues with it, the certificates chain to that root and pass the check,
// and a wrong key or a missing root is refused.
func TestImportedIssuer(t *testing.T) {
	a, _ := pkitest.New(t)
	chain, key, root := offlineCA(t)
	_, otherKey, _ := offlineCA(t)
	issuing, _, _ := bytes.Cut(chain, []byte("-----END CERTIFICATE-----\n"))
	for name, tc := range map[string]struct{ chain, key []byte }{
		"fail/key of another CA": {chain, otherKey},
		"fail/no root":           {append(issuing, []byte("-----END CERTIFICATE-----\n")...), key},
		"fail/garbage key":       {chain, []byte("not a key")},
	} {
		if _, err := a.ImportIssuer("instance", tc.chain, tc.key, "ops"); err == nil {
			t.Errorf("%s: imported", name)
		}
	}
	if _, err := a.ImportIssuer("instance", chain, key, "ops"); err != nil {
		t.Fatal(err)
	}
	iss := issueFrom(t, a, "instance", "field-1")
	leaf := chainOf(t, pkitest.ClientTLS(t, iss))
	roots := x509.NewCertPool()
	roots.AddCert(root)
	inter := x509.NewCertPool()
	inter.AddCert(leaf[1])
	if _, err := leaf[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("the certificate does not chain to the offline root: %v", err)
	}
	if err := a.Check(leaf); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if string(iss.CAPEM) != string(a.RootPEM()) {
		t.Error("the device's ca.pem is not the root that verifies the server")
	}
}

// With a passphrase, a new issuer's key is sealed like the others.
func TestIssuerKeySealed(t *testing.T) {
	a, st := pkitest.New(t, pki.WithPassphrase([]byte("correct horse")))
	if _, err := a.CreateIssuer("tenant-s", "ops"); err != nil {
		t.Fatal(err)
	}
	cas, err := st.ListCAs()
	if err != nil {
		t.Fatal(err)
	}
	for _, ca := range cas {
		if strings.Contains(ca.KeyPEM, "PRIVATE KEY") {
			t.Errorf("CA %s (%s) keeps a clear key", ca.Name, ca.Subject)
		}
	}
	if _, err := pki.Init(st, pki.WithPassphrase([]byte("correct horse"))); err != nil {
		t.Fatalf("reopen: %v", err)
	}
}
