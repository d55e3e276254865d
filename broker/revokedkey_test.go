package broker_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// partnerCA is an operator's CA that signs leaves with chosen serials.
type partnerCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newPartnerCA(tb testing.TB, cn string) partnerCA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return partnerCA{cert: cert, key: key}
}

func (p partnerCA) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.cert.Raw})
}

// sign issues a client leaf for key with serial and CN.
func (p partnerCA) sign(tb testing.TB, key *ecdsa.PrivateKey, serial int64, cn string) tls.Certificate {
	tb.Helper()
	return p.signSerial(tb, key, big.NewInt(serial), cn)
}

// signSerial is sign with any serial, such as one of our own certificates'.
func (p partnerCA) signSerial(tb testing.TB, key *ecdsa.PrivateKey, serial *big.Int, cn string) tls.Certificate {
	tb.Helper()
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, p.cert, key.Public(), p.key)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// The reproduction: serial 1001 from an operator's auto-registering CA is
// revoked; the same key and CN re-signed as serial 0x1011 stay out.
func TestRevokedKeyStaysOutUnderANewSerial(t *testing.T) {
	e := newEnv(t, nil)
	ca := newPartnerCA(t, "Partner CA")
	if _, err := e.a.Trust(ca.pem(), false, "test"); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	first := ca.sign(t, key, 0x1001, "meter-1")
	e.mustConnect(t, broker.TransportMQTTS, &first, "meter-1")
	firstID := idOf(t, first)
	if c, err := e.a.Store().GetCert(firstID); err != nil || c.Source != store.SourceAutoRegistered || c.State != store.StateActive {
		t.Fatalf("first certificate %+v, %v", c, err)
	}
	e.transition(t, firstID, store.StateRevoked)
	e.b.DropSerial(firstID, pki.ReasonRevoked)

	again := ca.sign(t, key, 0x1011, "meter-1")
	if _, err := e.connect(t, broker.TransportMQTTS, &again, "meter-1"); err == nil {
		t.Fatal("the revoked key came back under serial 1011")
	}
	e.ev.wait(t, 1, broker.EventRefused, pki.ReasonRevokedKey, idOf(t, again))
	if _, err := e.a.Store().GetCert(idOf(t, again)); err == nil {
		t.Fatal("serial 1011 was registered")
	}
	// A fresh key under the same CA is still welcome.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fresh := ca.sign(t, other, 0x1012, "meter-2")
	e.mustConnect(t, broker.TransportMQTTS, &fresh, "meter-2")
}

// Untrusting a CA drops exactly the sessions that relied on it and refuses
// its certificates from then on.
func TestRecheckAfterUntrust(t *testing.T) {
	e := newEnv(t, nil)
	ca := newPartnerCA(t, "Partner CA")
	if _, err := e.a.Trust(ca.pem(), false, "test"); err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	partner := ca.sign(t, key, 0x2001, "partner-device")
	p := e.mustConnect(t, broker.TransportMQTTS, &partner, "partner")
	ours, _ := e.issue(t, "ours")
	o := e.mustConnect(t, broker.TransportMQTTS, &ours, "ours")

	if _, err := e.a.Untrust("Partner CA", "test"); err != nil {
		t.Fatal(err)
	}
	if n := e.b.Recheck("CA untrusted"); n != 1 {
		t.Fatalf("Recheck dropped %d, want 1", n)
	}
	waitLost(t, p)
	e.ev.wait(t, 1, broker.EventDisconnected, "CA untrusted: "+pki.ReasonUnknownCA, idOf(t, partner))
	if !o.IsConnectionOpen() {
		t.Fatal("our own device was dropped")
	}
	if _, err := e.connect(t, broker.TransportMQTTS, &partner, "partner"); err == nil {
		t.Fatal("an untrusted CA's certificate connected")
	}
	e.waitHandshakeRefusal(t, pki.ReasonUnknownCA, broker.TransportMQTTS)
}
