package pki_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
	"github.com/gatehouse/gatehouse/store"
)

// operatorCA is a CA of the operator's, trusted by an Authority, that signs
// whatever leaves a test asks for.
type operatorCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newOperatorCA(t *testing.T, key crypto.Signer, alg x509.SignatureAlgorithm) operatorCA {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Operator CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		SignatureAlgorithm: alg,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return operatorCA{cert: cert, key: key}
}

func (o operatorCA) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: o.cert.Raw})
}

// leaf signs a client leaf for pub; change may alter the template.
func (o operatorCA) leaf(t *testing.T, pub crypto.PublicKey, change func(*x509.Certificate)) *x509.Certificate {
	t.Helper()
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: n.Add(n, big.NewInt(1)), Subject: pkix.Name{CommonName: "device"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if change != nil {
		change(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, o.cert, pub, o.key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func rsaKey(t *testing.T, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ecKey(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The key rules hold at the handshake and for cert import alike: RSA 2048+,
// curves P-256/P-384/Ed25519, an explicit clientAuth EKU, no SHA-1.
func TestKeyRules(t *testing.T) {
	a, st := pkitest.New(t)
	ca := newOperatorCA(t, ecKey(t, elliptic.P256()), 0)
	if _, err := a.Trust(ca.pem(), false, "test"); err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	for name, tc := range map[string]struct {
		leaf *x509.Certificate
		want string
	}{
		"ok/rsa-2048":         {ca.leaf(t, rsaKey(t, 2048).Public(), nil), ""},
		"ok/p-256":            {ca.leaf(t, ecKey(t, elliptic.P256()).Public(), nil), ""},
		"ok/p-384":            {ca.leaf(t, ecKey(t, elliptic.P384()).Public(), nil), ""},
		"ok/ed25519":          {ca.leaf(t, edKey.Public(), nil), ""},
		"fail/rsa-1024":       {ca.leaf(t, rsaKey(t, 1024).Public(), nil), pki.ReasonWeakKey},
		"fail/p-224":          {ca.leaf(t, ecKey(t, elliptic.P224()).Public(), nil), pki.ReasonWeakKey},
		"fail/p-521":          {ca.leaf(t, ecKey(t, elliptic.P521()).Public(), nil), pki.ReasonWeakKey},
		"fail/no-eku":         {ca.leaf(t, ecKey(t, elliptic.P256()).Public(), func(c *x509.Certificate) { c.ExtKeyUsage = nil }), pki.ReasonWrongKeyUsage},
		"fail/any-eku":        {ca.leaf(t, ecKey(t, elliptic.P256()).Public(), func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageAny} }), pki.ReasonWrongKeyUsage},
		"fail/sha1-signature": {ca.leaf(t, ecKey(t, elliptic.P256()).Public(), func(c *x509.Certificate) { c.SignatureAlgorithm = x509.ECDSAWithSHA1 }), pki.ReasonWeakSignature},
	} {
		t.Run(name, func(t *testing.T) {
			if got := reason(a.Check([]*x509.Certificate{tc.leaf})); got != tc.want {
				t.Fatalf("Check: reason %q, want %q", got, tc.want)
			}
			// cert import applies the same rules, with ErrWeakKey for weak material.
			_, err := a.ImportClient(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tc.leaf.Raw}), "test")
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("import: %v", err)
			case tc.want == "":
			case err == nil:
				t.Fatal("import accepted it")
			case tc.want != pki.ReasonWrongKeyUsage && !errors.Is(err, pki.ErrWeakKey):
				t.Fatalf("import: %v, want ErrWeakKey", err)
			}
			if _, err := st.GetCert(idOf(tc.leaf)); (err == nil) != (tc.want == "") {
				t.Fatalf("stored: %v", err)
			}
		})
	}
}

// ca trust and cert sign refuse weak keys and SHA-1 signatures too.
func TestKeyRulesForTrustAndCSR(t *testing.T) {
	a, _ := pkitest.New(t)
	for name, ca := range map[string]operatorCA{
		"rsa-1024":  newOperatorCA(t, rsaKey(t, 1024), 0),
		"sha1-root": newOperatorCA(t, ecKey(t, elliptic.P256()), x509.ECDSAWithSHA1),
	} {
		t.Run("trust/"+name, func(t *testing.T) {
			if _, err := a.Trust(ca.pem(), false, "test"); !errors.Is(err, pki.ErrWeakKey) {
				t.Fatalf("trust: %v, want ErrWeakKey", err)
			}
		})
	}
	csr := func(key crypto.Signer, alg x509.SignatureAlgorithm) []byte {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
			Subject: pkix.Name{CommonName: "csr-device"}, SignatureAlgorithm: alg,
		}, key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	}
	for name, tc := range map[string]struct {
		csr []byte
		ok  bool
	}{
		"ok/p-384":      {csr(ecKey(t, elliptic.P384()), 0), true},
		"ok/rsa-2048":   {csr(rsaKey(t, 2048), 0), true},
		"fail/rsa-1024": {csr(rsaKey(t, 1024), 0), false},
		"fail/p-224":    {csr(ecKey(t, elliptic.P224()), 0), false},
		"fail/sha1":     {csr(ecKey(t, elliptic.P256()), x509.ECDSAWithSHA1), false},
	} {
		t.Run("sign/"+name, func(t *testing.T) {
			iss, err := a.SignCSR(tc.csr, 0, "test")
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := a.Store().GetCert(iss.Cert.ID); err != nil || iss.Cert.State != store.StateInactive {
					t.Fatalf("signed %+v, %v", iss.Cert, err)
				}
				return
			}
			if !errors.Is(err, pki.ErrWeakKey) {
				t.Fatalf("sign: %v, want ErrWeakKey", err)
			}
		})
	}
}
