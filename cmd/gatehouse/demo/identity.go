package demo

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/pki"
)

// Issuer issues client certificates through the Gatehouse PKI. *app.App and
// the admin socket client satisfy it, so demo devices get their certificates
// exactly as an operator's devices do.
type Issuer interface {
	IssueClient(ctx context.Context, req app.IssueRequest) (app.Bundle, error)
}

// foreignValidity is long enough that a demo left running never sees its
// foreign device refused for a different reason than "unknown CA".
const foreignValidity = 365 * 24 * time.Hour

// identity is a device's client certificate, or none.
type identity struct {
	cert   *tls.Certificate // nil: one-way TLS, no client certificate
	serial string           // lowercase hex, as the broker and store name it
}

// deviceIdentity returns the certificate of a telemetry device: the one kept
// in keyDir/name when it is still valid (so rerunning the demo over the same
// data dir does not pile up certificates), otherwise a new one from iss,
// whose files are then kept there, laid out like `gatehouse cert create`.
func deviceIdentity(ctx context.Context, iss Issuer, keyDir, name string, now time.Time) (identity, error) {
	dir := ""
	if keyDir != "" {
		dir = filepath.Join(keyDir, name)
		if id, err := loadIdentity(dir, now); err == nil {
			return id, nil
		}
	}
	b, err := iss.IssueClient(ctx, app.IssueRequest{CN: name})
	if err != nil {
		return identity{}, fmt.Errorf("issue certificate for %s: %w", name, err)
	}
	cert, err := tls.X509KeyPair([]byte(b.ChainPEM), []byte(b.KeyPEM))
	if err != nil {
		return identity{}, fmt.Errorf("load issued certificate for %s: %w", name, err)
	}
	if dir != "" {
		issued := pki.Issued{Cert: b.Cert, ChainPEM: []byte(b.ChainPEM), KeyPEM: []byte(b.KeyPEM), CAPEM: []byte(b.CAPEM)}
		if _, err := pki.WriteClientFiles(dir, issued, true); err != nil {
			return identity{}, fmt.Errorf("write files of %s: %w", name, err)
		}
	}
	return identity{cert: &cert, serial: b.Cert.Serial}, nil
}

// loadIdentity reads dir/client.crt and dir/client.key and fails unless they
// hold a certificate that is valid now.
func loadIdentity(dir string, now time.Time) (identity, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, pki.CertFile), filepath.Join(dir, pki.KeyFile))
	if err != nil {
		return identity{}, fmt.Errorf("load device files in %s: %w", dir, err)
	}
	if cert.Leaf == nil {
		return identity{}, fmt.Errorf("load device files in %s: no leaf certificate", dir)
	}
	if now.Before(cert.Leaf.NotBefore) || now.After(cert.Leaf.NotAfter) {
		return identity{}, fmt.Errorf("device certificate in %s is not valid now", dir)
	}
	return identity{cert: &cert, serial: pki.FormatSerial(cert.Leaf.SerialNumber)}, nil
}

// foreignIdentity returns a client certificate for cn from a CA made up on
// the spot: well-formed, clientAuth, valid, and chaining to nothing the broker
// trusts, so it is always refused with "unknown CA".
func foreignIdentity(cn string, now time.Time) (identity, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return identity{}, fmt.Errorf("generate foreign CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "Foreign Demo CA", Organization: []string{"Not Gatehouse"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(foreignValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	ca, err := sign(caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return identity{}, fmt.Errorf("create foreign CA: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return identity{}, fmt.Errorf("generate foreign device key: %w", err)
	}
	leaf, err := sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(foreignValidity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, &key.PublicKey, caKey)
	if err != nil {
		return identity{}, fmt.Errorf("create foreign device certificate: %w", err)
	}
	cert := &tls.Certificate{Certificate: [][]byte{leaf.Raw, ca.Raw}, PrivateKey: key, Leaf: leaf}
	return identity{cert: cert, serial: pki.FormatSerial(leaf.SerialNumber)}, nil
}

// sign creates tmpl signed by parent's key, with a fresh random serial.
func sign(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("draw serial: %w", err)
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// rootPool parses the root the devices verify the server with.
func rootPool(rootPEM []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(rootPEM) {
		return nil, errors.New("root CA PEM holds no certificate")
	}
	return pool, nil
}

// clientTLS is a device's TLS configuration: it verifies the server against
// the root like a real device with ca.pem, and presents id's certificate if any.
func clientTLS(pool *x509.CertPool, serverName string, id identity) *tls.Config {
	c := &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12}
	if id.cert != nil {
		c.Certificates = []tls.Certificate{*id.cert}
	}
	return c
}

// makeKeyDir creates the directory for device files up front, so that a
// permission problem is reported once instead of once per device.
func makeKeyDir(dir string) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create device directory %s: %w", dir, err)
	}
	return nil
}
