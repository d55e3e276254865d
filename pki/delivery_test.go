package pki_test

import (
	"crypto"
	"crypto/x509"
	"errors"
	"testing"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
)

func TestPKCS12RoundTrip(t *testing.T) {
	a, _ := pkitest.New(t)
	for _, kt := range []pki.KeyType{pki.KeyECDSAP256, pki.KeyEd25519, pki.KeyRSA2048} {
		t.Run("ok/"+string(kt), func(t *testing.T) {
			iss, err := a.IssueClient(pki.ClientRequest{CN: "p12-" + string(kt), KeyType: kt}, "test")
			if err != nil {
				t.Fatal(err)
			}
			der, err := pki.PKCS12(iss.ChainPEM, iss.KeyPEM, iss.CAPEM, "s3cret")
			if err != nil {
				t.Fatal(err)
			}
			key, leaf, cas, err := pkcs12.DecodeChain(der, "s3cret")
			if err != nil {
				t.Fatal(err)
			}
			if leaf.Subject.CommonName != iss.Cert.CN || len(cas) != 2 {
				t.Fatalf("leaf %q with %d CA certificates, want %q with intermediate and root", leaf.Subject.CommonName, len(cas), iss.Cert.CN)
			}
			if !cas[1].IsCA || cas[1].Subject.String() != cas[1].Issuer.String() {
				t.Errorf("last CA certificate %s is not the self-signed root", cas[1].Subject)
			}
			pub := key.(crypto.Signer).Public()
			if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(leaf.PublicKey) {
				t.Error("the bundled key does not match the leaf")
			}
			roots := x509.NewCertPool()
			roots.AddCert(cas[1])
			inter := x509.NewCertPool()
			inter.AddCert(cas[0])
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("bundled chain does not verify: %v", err)
			}
			if _, _, err := pkcs12.Decode(der, "wrong"); err == nil {
				t.Error("a wrong password decoded the bundle")
			}
		})
	}
	if _, err := pki.PKCS12([]byte("x"), nil, nil, "p"); !errors.Is(err, pki.ErrMalformed) {
		t.Errorf("no key: %v, want ErrMalformed", err)
	}
}
