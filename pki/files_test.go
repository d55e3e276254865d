package pki_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
)

func TestWriteClientFiles(t *testing.T) {
	a, _ := pkitest.New(t)
	iss := pkitest.Issue(t, a, "cam-1")
	dir := filepath.Join(t.TempDir(), "out", "cam-1")
	paths, err := pki.WriteClientFiles(dir, iss, false)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		mode os.FileMode
		data []byte
	}{
		"ca.pem":     {0o644, iss.CAPEM},
		"client.crt": {0o644, iss.ChainPEM},
		"client.key": {0o600, iss.KeyPEM},
	}
	if len(paths) != len(want) {
		t.Fatalf("paths %v", paths)
	}
	for _, p := range paths {
		w, ok := want[filepath.Base(p)]
		fi, err := os.Stat(p)
		if !ok || err != nil || fi.Mode().Perm() != w.mode {
			t.Fatalf("%s: mode %v, %v", p, fi.Mode(), err)
		}
		if data, _ := os.ReadFile(p); !bytes.Equal(data, w.data) {
			t.Fatalf("%s: content differs", p)
		}
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v", fi.Mode())
	}

	again := pkitest.Issue(t, a, "cam-1")
	_, err = pki.WriteClientFiles(dir, again, false)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "ca.pem")) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("overwrite without force: %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "client.key")); !bytes.Equal(data, iss.KeyPEM) {
		t.Fatal("a refused write changed a file")
	}
	if _, err := pki.WriteClientFiles(dir, again, true); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "client.key")); !bytes.Equal(data, again.KeyPEM) {
		t.Fatal("force did not overwrite")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Fatalf("temporary files left behind: %v", entries)
	}

	csrDir := filepath.Join(t.TempDir(), "signed")
	signed := pki.Issued{Cert: iss.Cert, ChainPEM: iss.ChainPEM, CAPEM: iss.CAPEM}
	paths, err = pki.WriteClientFiles(csrDir, signed, false)
	if err != nil || len(paths) != 2 {
		t.Fatalf("without key: %v, %v", paths, err)
	}
	if _, err := os.Stat(filepath.Join(csrDir, "client.key")); !os.IsNotExist(err) {
		t.Fatal("a key file was written for a CSR-signed certificate")
	}
}
