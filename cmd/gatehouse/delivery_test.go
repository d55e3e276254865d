package main

import (
	"crypto/tls"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// The delivery forms of cert create: a one-file bundle beside the usual
// files, a PKCS#12 file alone, and the PEM bundle on stdout.
func TestCertCreateDeliveryForms(t *testing.T) {
	data := t.TempDir()
	mustGH(t, data, "init")
	out := t.TempDir()

	mustGH(t, data, "cert", "create", "--cn", "b1", "--bundle", "--out", filepath.Join(out, "b1"))
	bundle, err := os.ReadFile(filepath.Join(out, "b1", "client.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(out, "b1", "client.pem")); fi.Mode().Perm() != 0o600 {
		t.Errorf("client.pem mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := tls.X509KeyPair(bundle, bundle); err != nil {
		t.Errorf("client.pem is not a usable chain and key: %v", err)
	}

	pass := filepath.Join(out, "pass")
	os.WriteFile(pass, []byte("changeit\n"), 0o600)
	p12 := filepath.Join(out, "j1.p12")
	mustGH(t, data, "cert", "create", "--cn", "j1", "--p12", p12, "--p12-password-file", pass)
	der, err := os.ReadFile(p12)
	if err != nil {
		t.Fatal(err)
	}
	_, leaf, cas, err := pkcs12.DecodeChain(der, "changeit")
	if err != nil || leaf.Subject.CommonName != "j1" || len(cas) != 2 {
		t.Fatalf("PKCS#12: leaf %v, %d CA certificates, %v", leaf, len(cas), err)
	}
	if _, err := os.Stat("j1"); err == nil {
		t.Error("--p12 alone also wrote the ./j1 directory")
	}
	if _, errOut, code := gh(t, data, "cert", "create", "--cn", "j2", "--p12", p12, "--p12-password-file", pass); code != exitError || !strings.Contains(errOut, "already exists") {
		t.Errorf("an existing --p12 file: exit %d, %q", code, errOut)
	}
	if strings.Contains(mustGH(t, data, "cert", "list"), "j2") {
		t.Error("a refused create left a record")
	}

	stdout, errOut, code := gh(t, data, "cert", "create", "--cn", "s1", "--out", "-")
	if code != exitOK {
		t.Fatalf("--out -: exit %d: %s", code, errOut)
	}
	var blocks []string
	for rest := []byte(stdout); ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		blocks = append(blocks, b.Type)
	}
	if strings.Join(blocks, ",") != "CERTIFICATE,CERTIFICATE,PRIVATE KEY" || !strings.Contains(errOut, "issued") {
		t.Errorf("--out - printed %v, stderr %q", blocks, errOut)
	}
	if _, err := os.Stat("-"); err == nil {
		t.Error("--out - made a directory named -")
	}

	for name, args := range map[string][]string{
		"fail/stdout and bundle":    {"--out", "-", "--bundle"},
		"fail/password without p12": {"--p12-password-file", pass},
	} {
		if _, errOut, code := gh(t, data, append([]string{"cert", "create", "--cn", "u1"}, args...)...); code != exitUsage {
			t.Errorf("%s: exit %d (%q), want 2", name, code, errOut)
		}
	}
}

// cert renew writes the successor's files; the old certificate stays until
// the successor is used (the broker side is tested in app).
func TestCertRenew(t *testing.T) {
	data := t.TempDir()
	mustGH(t, data, "init")
	out := t.TempDir()
	old := strings.TrimSpace(mustGH(t, data, "cert", "create", "--cn", "r1", "--ttl", "30d", "--out", filepath.Join(out, "r1")))
	if _, errOut, code := gh(t, data, "cert", "renew", "r1", "--out", filepath.Join(out, "r1")); code != exitError || !strings.Contains(errOut, "already exists") {
		t.Fatalf("renew into the old files without --force: exit %d, %q", code, errOut)
	}
	next := strings.TrimSpace(mustGH(t, data, "cert", "renew", "r1", "--out", filepath.Join(out, "r1"), "--force"))
	if next == old || next == "" {
		t.Fatalf("renew printed %q (old %q)", next, old)
	}
	list := mustGH(t, data, "cert", "list", "--json")
	if !strings.Contains(list, `"renews": "`+old) && !strings.Contains(list, `"renews":"`+old) {
		t.Errorf("the successor does not name what it renews:\n%s", list)
	}
	if _, errOut, code := gh(t, data, "cert", "renew", "nobody"); code == exitOK {
		t.Errorf("renew of an unknown CN succeeded: %q", errOut)
	}
	mustGH(t, data, "cert", "revoke", old)
	if _, _, code := gh(t, data, "cert", "renew", old, "--out", filepath.Join(out, "again")); code == exitOK {
		t.Error("a revoked certificate was renewed")
	}
}
