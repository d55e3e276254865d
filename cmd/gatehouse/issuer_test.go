package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCAIssuerCommands(t *testing.T) {
	data := t.TempDir()
	mustGH(t, data, "init")
	out := t.TempDir()
	if _, errOut, code := gh(t, data, "ca", "issuer", "create", "Tenant A"); code != exitUsage {
		t.Errorf("a malformed name: exit %d, %q", code, errOut)
	}
	mustGH(t, data, "ca", "issuer", "create", "tenant-a")
	if _, errOut, code := gh(t, data, "ca", "issuer", "create", "tenant-a"); code != exitError || !strings.Contains(errOut, "exists") {
		t.Errorf("a second tenant-a: exit %d, %q", code, errOut)
	}
	serial := strings.TrimSpace(mustGH(t, data, "cert", "create", "--cn", "a-1", "--issuer", "tenant-a", "--out", filepath.Join(out, "a-1")))
	chain, _ := os.ReadFile(filepath.Join(out, "a-1", "client.crt"))
	if !strings.Contains(mustGH(t, data, "cert", "show", serial), "tenant-a") || len(chain) == 0 {
		t.Errorf("the certificate does not name its issuer")
	}
	if list := mustGH(t, data, "ca", "list"); !strings.Contains(list, "tenant-a") || !strings.Contains(list, "default") {
		t.Errorf("ca list:\n%s", list)
	}
	if _, errOut, code := gh(t, data, "cert", "create", "--cn", "x", "--issuer", "tenant-b", "--out", filepath.Join(out, "x")); code != exitError || !strings.Contains(errOut, "tenant-b") {
		t.Errorf("an unknown issuer: exit %d, %q", code, errOut)
	}
	if got := mustGH(t, data, "ca", "issuer", "suspend", "tenant-a"); !strings.Contains(got, "suspended issuing CA tenant-a") {
		t.Errorf("suspend: %q", got)
	}
	if list := mustGH(t, data, "ca", "list"); !strings.Contains(list, "suspended") {
		t.Errorf("ca list does not show the suspension:\n%s", list)
	}
	mustGH(t, data, "ca", "issuer", "reactivate", "tenant-a")
	mustGH(t, data, "ca", "crl", "--issuer", "tenant-a", "--out", filepath.Join(out, "a.crl"))

	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed: the import half needs it")
	}
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, b)
		}
	}
	run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "root.key", "-out", "root.pem",
		"-subj", "/CN=Offline Root", "-days", "3650", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign,cRLSign")
	run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "inst.key", "-out", "inst.csr", "-subj", "/CN=instance")
	os.WriteFile(filepath.Join(dir, "ext.cnf"), []byte("basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=keyCertSign,cRLSign\n"), 0o600)
	run("x509", "-req", "-in", "inst.csr", "-CA", "root.pem", "-CAkey", "root.key", "-CAcreateserial", "-days", "1825", "-extfile", "ext.cnf", "-out", "inst.pem")
	instChain, _ := os.ReadFile(filepath.Join(dir, "inst.pem"))
	root, _ := os.ReadFile(filepath.Join(dir, "root.pem"))
	os.WriteFile(filepath.Join(dir, "chain.pem"), append(instChain, root...), 0o600)
	if _, errOut, code := gh(t, data, "ca", "issuer", "import", "instance", "--cert", filepath.Join(dir, "inst.pem"), "--key", filepath.Join(dir, "inst.key")); code == exitOK {
		t.Errorf("an import without the root succeeded: %q", errOut)
	}
	mustGH(t, data, "ca", "issuer", "import", "instance", "--cert", filepath.Join(dir, "chain.pem"), "--key", filepath.Join(dir, "inst.key"))
	mustGH(t, data, "cert", "create", "--cn", "f-1", "--issuer", "instance", "--out", filepath.Join(dir, "f-1"))
	cmd := exec.Command("openssl", "verify", "-CAfile", "root.pem", "-untrusted", "inst.pem", filepath.Join(dir, "f-1", "client.crt"))
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the certificate does not verify against the offline root: %v\n%s", err, b)
	}
}
