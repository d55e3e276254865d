// Command fill loads a Gatehouse store with N client certificates quickly,
// for measuring start-up and listings at fleet size (docs/benchmarks.md):
//
//	gatehouse init --data DIR && go run ./testdata/bench/fill -data DIR -certs 100000
//
// Each certificate is a real leaf signed by the store's built-in issuing CA
// (one device key for all: keys are not what is measured), stored through
// store.CreateCerts in transactions of -batch records with their audit
// records, as cert create would leave them. States are mixed as a fleet's
// are (70% active, 15% inactive, 10% suspended, 5% revoked) and expiry
// dates spread over 400 days. The store must not be open elsewhere.
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

func main() {
	data := flag.String("data", "", "the data directory (made with gatehouse init)")
	n := flag.Int("certs", 100_000, "how many certificates to add")
	batch := flag.Int("batch", 5000, "certificates per transaction")
	flag.Parse()
	if *data == "" || *n < 0 || *batch < 1 {
		fmt.Fprintln(os.Stderr, "usage: fill -data DIR [-certs N] [-batch N]")
		os.Exit(2)
	}
	start := time.Now()
	if err := fill(filepath.Join(*data, "gatehouse.db"), *n, *batch); err != nil {
		fmt.Fprintln(os.Stderr, "fill:", err)
		os.Exit(1)
	}
	fmt.Printf("added %d certificates in %s\n", *n, time.Since(start).Round(time.Millisecond))
}

func fill(path string, n, batch int) error {
	st, err := store.Open(path, store.Options{MustExist: true})
	if err != nil {
		return err
	}
	defer st.Close()
	ca, key, err := issuingCA(st)
	if err != nil {
		return err
	}
	devKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	states := []store.State{store.StateActive, store.StateActive, store.StateActive, store.StateActive, store.StateActive,
		store.StateActive, store.StateActive, store.StateInactive, store.StateInactive, store.StateInactive,
		store.StateSuspended, store.StateSuspended, store.StateRevoked, store.StateActive, store.StateActive,
		store.StateActive, store.StateActive, store.StateActive, store.StateSuspended, store.StateInactive}
	now := time.Now().Truncate(time.Second)
	for done := 0; done < n; {
		m := min(batch, n-done)
		certs := make([]store.Cert, 0, m)
		audits := make([]store.AuditRecord, 0, m)
		for i := done; i < done+m; i++ {
			c, err := leaf(ca, key, &devKey.PublicKey, fmt.Sprintf("device-%06d", i), now, now.Add(time.Duration(1+i%400)*24*time.Hour))
			if err != nil {
				return err
			}
			c.State = states[i%len(states)]
			certs = append(certs, c)
			audits = append(audits, store.AuditRecord{At: now, Actor: "fill", Action: "cert.create"})
		}
		if err := st.CreateCerts(certs, audits); err != nil {
			return err
		}
		done += m
	}
	return nil
}

// issuingCA reads the built-in issuing CA and its key from the store.
func issuingCA(st *store.Store) (*x509.Certificate, crypto.Signer, error) {
	cas, err := st.ListCAs()
	if err != nil {
		return nil, nil, err
	}
	for _, ca := range cas {
		if ca.Role != store.RoleIssuing || ca.Name != "" {
			continue
		}
		cb, _ := pem.Decode([]byte(ca.CertPEM))
		kb, _ := pem.Decode([]byte(ca.KeyPEM))
		if cb == nil || kb == nil || kb.Type != "PRIVATE KEY" {
			return nil, nil, errors.New("the issuing CA's key is not a clear PKCS#8 PEM (a CA passphrase is not supported here)")
		}
		cert, err := x509.ParseCertificate(cb.Bytes)
		if err != nil {
			return nil, nil, err
		}
		k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
		if err != nil {
			return nil, nil, err
		}
		signer, ok := k.(crypto.Signer)
		if !ok {
			return nil, nil, errors.New("the issuing CA's key cannot sign")
		}
		return cert, signer, nil
	}
	return nil, nil, errors.New("no built-in issuing CA: run gatehouse init first")
}

// leaf signs a client certificate for cn and returns its record.
func leaf(ca *x509.Certificate, key crypto.Signer, pub crypto.PublicKey, cn string, from, until time.Time) (store.Cert, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return store.Cert{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, NotBefore: from, NotAfter: until,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, key)
	if err != nil {
		return store.Cert{}, err
	}
	fp := sha256.Sum256(der)
	s := hex.EncodeToString(serial.Bytes()) // pki.FormatSerial
	return store.Cert{
		ID: store.CertID(s, ca.RawSubject), Serial: s, CN: cn, Issuer: ca.Subject.CommonName,
		NotBefore: from, NotAfter: until, Fingerprint: hex.EncodeToString(fp[:]), KeyType: "ecdsa-p256",
		Source: store.SourceIssued, CreatedAt: from,
		CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
	}, nil
}
