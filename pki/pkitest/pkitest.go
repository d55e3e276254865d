// Package pkitest builds Authorities and client certificates of every kind
// (ours, foreign, self-signed, tampered, expired) for tests in other packages.
package pkitest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// New opens a store in tb.TempDir() and initialises an Authority over it. The
// store is closed when the test ends.
func New(tb testing.TB, opts ...pki.Option) (*pki.Authority, *store.Store) {
	tb.Helper()
	st, err := store.Open(filepath.Join(tb.TempDir(), "gatehouse.db"), store.Options{})
	if err != nil {
		tb.Fatalf("pkitest: %v", err)
	}
	tb.Cleanup(func() {
		if err := st.Close(); err != nil {
			tb.Errorf("pkitest: %v", err)
		}
	})
	a, err := pki.Init(st, opts...)
	if err != nil {
		tb.Fatalf("pkitest: %v", err)
	}
	return a, st
}

// Issue issues a client certificate for cn with default settings.
func Issue(tb testing.TB, a *pki.Authority, cn string) pki.Issued {
	tb.Helper()
	iss, err := a.IssueClient(pki.ClientRequest{CN: cn}, "test")
	if err != nil {
		tb.Fatalf("pkitest: issue %q: %v", cn, err)
	}
	return iss
}

// ClientTLS turns an Issued chain and key into a tls.Certificate for a client.
func ClientTLS(tb testing.TB, iss pki.Issued) tls.Certificate {
	tb.Helper()
	c, err := tls.X509KeyPair(iss.ChainPEM, iss.KeyPEM)
	if err != nil {
		tb.Fatalf("pkitest: client key pair: %v", err)
	}
	return c
}

// Foreign returns a client certificate (clientAuth) for cn issued by a fresh
// CA unrelated to any Authority, and that CA's certificate (e.g. to Trust it).
func Foreign(tb testing.TB, cn string) (tls.Certificate, *x509.Certificate) {
	tb.Helper()
	caKey := newKey(tb)
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(tb),
		Subject:               pkix.Name{CommonName: "Foreign CA " + cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	ca := create(tb, caTmpl, caTmpl, caKey.Public(), caKey)
	leafKey := newKey(tb)
	leaf := create(tb, clientTemplate(tb, cn), ca, leafKey.Public(), caKey)
	return tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: leafKey, Leaf: leaf}, ca
}

// SelfSigned returns a self-signed client certificate for cn.
func SelfSigned(tb testing.TB, cn string) tls.Certificate {
	tb.Helper()
	key := newKey(tb)
	tmpl := clientTemplate(tb, cn)
	c := create(tb, tmpl, tmpl, key.Public(), key)
	return tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: key, Leaf: c}
}

// Tampered returns a certificate issued by a, then altered (one byte of its
// subject CN changed) so that its signature no longer verifies against a's
// issuing CA. Its issuer name and key identifier still point at a.
func Tampered(tb testing.TB, a *pki.Authority) tls.Certificate {
	tb.Helper()
	const cn = "tampered-device"
	good := ClientTLS(tb, Issue(tb, a, cn))
	var cert struct {
		TBS       asn1.RawValue
		Algorithm asn1.RawValue
		Signature asn1.BitString
	}
	if _, err := asn1.Unmarshal(good.Certificate[0], &cert); err != nil {
		tb.Fatalf("pkitest: tamper: %v", err)
	}
	i := bytes.Index(cert.TBS.FullBytes, []byte(cn))
	if i < 0 {
		tb.Fatalf("pkitest: tamper: CN not found in TBS")
	}
	tbs := bytes.Clone(cert.TBS.FullBytes)
	tbs[i] = 'T' // same length, so every DER length stays valid
	cert.TBS = asn1.RawValue{FullBytes: tbs}
	der, err := asn1.Marshal(cert)
	if err != nil {
		tb.Fatalf("pkitest: tamper: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("pkitest: tamper: %v", err)
	}
	good.Certificate[0], good.Leaf = der, leaf
	return good
}

// Expired returns a client certificate from a's CA that expired an hour ago. It
// is issued by a second Authority over the same store with its clock set back,
// so a's own snapshot does not list it; expiry is refused before the snapshot
// is consulted.
func Expired(tb testing.TB, a *pki.Authority) pki.Issued {
	tb.Helper()
	past := time.Now().Add(-2 * time.Hour)
	old, err := pki.Init(a.Store(), pki.WithClock(func() time.Time { return past }))
	if err != nil {
		tb.Fatalf("pkitest: expired: %v", err)
	}
	iss, err := old.IssueClient(pki.ClientRequest{CN: "expired-device", TTL: time.Hour}, "test")
	if err != nil {
		tb.Fatalf("pkitest: expired: %v", err)
	}
	return iss
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("pkitest: key: %v", err)
	}
	return k
}

func serial(tb testing.TB) *big.Int {
	tb.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		tb.Fatalf("pkitest: serial: %v", err)
	}
	return n.Add(n, big.NewInt(1))
}

func clientTemplate(tb testing.TB, cn string) *x509.Certificate {
	tb.Helper()
	return &x509.Certificate{
		SerialNumber: serial(tb),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

func create(tb testing.TB, tmpl, parent *x509.Certificate, pub any, signer *ecdsa.PrivateKey) *x509.Certificate {
	tb.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		tb.Fatalf("pkitest: create certificate: %v", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("pkitest: parse certificate: %v", err)
	}
	return c
}
