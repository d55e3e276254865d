package app

import (
	"bytes"
	"context"
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
)

// Suspending an issuer drops exactly its fleet's live sessions at once and
// refuses them on reconnect; another issuer's devices stay.
func TestSuspendIssuerDropsItsFleet(t *testing.T) {
	a, addr := openTestApp(t)
	ctx := context.Background()
	if _, err := a.CreateIssuer(ctx, "tenant-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateIssuer(ctx, "Bad Name"); err == nil {
		t.Fatal("a malformed issuer name was accepted")
	}
	fleet, err := a.IssueClient(ctx, IssueRequest{CN: "a-1", Issuer: "tenant-a"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := a.IssueClient(ctx, IssueRequest{CN: "d-1"})
	if err != nil {
		t.Fatal(err)
	}
	tenant := connectWith(t, addr, fleet, fleet.KeyPEM, "a-1")
	dflt := connectWith(t, addr, other, other.KeyPEM, "d-1")
	res, err := a.SuspendIssuer(ctx, "tenant-a", true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Dropped != 1 || !res.CA.Suspended {
		t.Fatalf("SuspendIssuer: %+v", res)
	}
	waitFor(t, "tenant-a's device to drop", func() bool { return !tenant.IsConnectionOpen() })
	if !dflt.IsConnectionOpen() {
		t.Fatal("the default issuer's device was dropped too")
	}
	if _, err := a.SuspendIssuer(ctx, "tenant-a", false); err != nil {
		t.Fatal(err)
	}
	connectWith(t, addr, fleet, fleet.KeyPEM, "a-1b")
}

// An imported issuer chosen to sign the server certificate: the running
// broker rotates to it, clients verify the server with the operator's
// offline root, and ca export hands out that root.
func TestServerCertificateFromAnImportedIssuer(t *testing.T) {
	a, addr := openTestApp(t)
	ctx := context.Background()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Offline Root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	rootDER, _ := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	root, _ := x509.ParseCertificate(rootDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	instDER, _ := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "instance"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(5 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true}, root, key.Public(), rootKey)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: instDER}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER})...)
	if _, err := a.ImportIssuer(ctx, "instance", chain, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})); err != nil {
		t.Fatal(err)
	}
	if err := a.SetServerIssuer(ctx, "nosuch"); err == nil {
		t.Fatal("an unknown server issuer was accepted")
	}
	if err := a.SetServerIssuer(ctx, "instance"); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("the server does not verify against the offline root: %v", err)
	}
	conn.Close()
	exported, _ := a.RootPEM(ctx)
	if blk, _ := pem.Decode(exported); blk == nil || !bytes.Equal(blk.Bytes, rootDER) {
		t.Fatal("ca export does not give the offline root")
	}
	dev, err := a.IssueClient(ctx, IssueRequest{CN: "field-1", Issuer: "instance"})
	if err != nil {
		t.Fatal(err)
	}
	if dev.CAPEM != string(exported) {
		t.Error("a device's ca.pem is not the root that verifies the server")
	}
	connectWith(t, addr, dev, dev.KeyPEM, "field-1")
}
