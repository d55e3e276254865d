package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hostileCN is the adversarial review's certificate name: it clears the
// screen and forges a line in red.
const hostileCN = "\x1b[2J\x1b[31mFAKE: devA revoked by admin"

// partnerCA writes a CA certificate and a client leaf it signed, with the
// given CN and serial, and returns their PEM files; the leaf's key is in
// dir/client.key and the leaf also in dir/client.crt, as a device holds them.
func partnerCA(t *testing.T, dir, cn string, serial int64) (caFile, leafFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial + 1<<20), Subject: pkix.Name{CommonName: "Partner CA " + filepath.Base(dir)},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(12 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile, leafFile = filepath.Join(dir, "partner-ca.pem"), filepath.Join(dir, "leaf.pem")
	for _, f := range []string{leafFile, filepath.Join(dir, "client.crt")} {
		if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "client.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, leafFile
}

// A certificate's CN reaches the operator's terminal escaped in every text
// output, and exact in JSON.
func TestCertificateTextIsEscapedOnTheTerminal(t *testing.T) {
	data := initData(t)
	startTestDaemon(t, data, "")
	caFile, leaf := partnerCA(t, t.TempDir(), hostileCN, 0x1004)
	mustGH(t, data, "ca", "trust", caFile, "--strict")
	serial := strings.TrimSpace(mustGH(t, data, "cert", "import", leaf))
	mustGH(t, data, "cert", "suspend", serial, "--reason", "\x1b]0;owned\x07 stolen")
	for name, args := range map[string][]string{
		"cert list": {"cert", "list"},
		"cert show": {"cert", "show", serial},
		"audit":     {"audit"},
		"events":    {"events"},
		"suspend":   {"cert", "reactivate", serial},
	} {
		t.Run("escaped/"+name, func(t *testing.T) {
			out, errOut, code := gh(t, data, args...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if strings.ContainsAny(out+errOut, "\x1b\x07") {
				t.Fatalf("raw control characters reach the terminal:\n%q", out)
			}
			if !strings.Contains(out, `\x1b[2J\x1b[31mFAKE`) {
				t.Fatalf("the CN is not shown escaped:\n%s", out)
			}
		})
	}
	t.Run("exact/json", func(t *testing.T) {
		if out := mustGH(t, data, "cert", "list", "--json"); !strings.Contains(out, `\u001b[2J\u001b[31mFAKE: devA revoked by admin`) {
			t.Fatalf("JSON does not carry the exact CN:\n%s", out)
		}
	})
	t.Run("escaped/error message", func(t *testing.T) {
		_, errOut, _ := gh(t, data, "cert", "show", "zz\x1b[2J")
		if strings.Contains(errOut, "\x1b") || strings.Count(errOut, "\n") != 1 {
			t.Fatalf("stderr %q", errOut)
		}
	})
}
