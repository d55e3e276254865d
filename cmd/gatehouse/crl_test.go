package main

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/pki"
)

// crlSerials reads a DER CRL file and returns its entries' serials (hex).
func crlSerials(t *testing.T, path string) map[string]int {
	t.Helper()
	der, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	out := map[string]int{}
	for _, e := range crl.RevokedCertificateEntries {
		out[pki.FormatSerial(e.SerialNumber)] = e.ReasonCode
	}
	return out
}

// ca crl shows a suspension with and without a daemon, and refuses what it
// cannot do with a usage error.
func TestCACRL(t *testing.T) {
	data := initData(t)
	serial := strings.TrimSpace(mustGH(t, data, "cert", "create", "--cn", "crl-dev", "--out", filepath.Join(data, "dev")))
	mustGH(t, data, "cert", "suspend", serial)
	file := filepath.Join(data, "offline.crl")
	mustGH(t, data, "ca", "crl", "--out", file)
	if got, ok := crlSerials(t, file)[serial]; !ok || got != 6 {
		t.Fatalf("offline CRL: serial %s listed=%v reason=%d, want certificateHold (6)", serial, ok, got)
	}

	startTestDaemon(t, data, "tester")
	mustGH(t, data, "cert", "revoke", serial)
	file = filepath.Join(data, "daemon.crl")
	mustGH(t, data, "ca", "crl", "--issuer", "default", "--out", file)
	if got, ok := crlSerials(t, file)[serial]; !ok || got != 0 {
		t.Fatalf("daemon CRL: serial %s listed=%v reason=%d, want revoked (0)", serial, ok, got)
	}

	if _, errOut, code := gh(t, data, "ca", "crl"); code != exitUsage || !strings.Contains(errOut, "--out FILE is required") {
		t.Errorf("ca crl without --out: exit %d, stderr %q", code, errOut)
	}
	if _, errOut, code := gh(t, data, "ca", "crl", "--issuer", "tenant9", "--out", file); code != exitError || !strings.Contains(errOut, "tenant9") {
		t.Errorf("ca crl --issuer tenant9: exit %d, stderr %q", code, errOut)
	}
}
