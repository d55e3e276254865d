package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/admin"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

// writePass writes a passphrase file with a trailing newline, as echo and
// editors leave one, and returns its path.
func writePass(t *testing.T, pass string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(f, []byte(pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// noPassphraseSources clears the environment's passphrase sources.
func noPassphraseSources(t *testing.T) {
	t.Setenv(passphraseEnv, "")
	t.Setenv("CREDENTIALS_DIRECTORY", "")
}

// requireChainsTo verifies a client.crt (leaf + chain) against the root PEM.
func requireChainsTo(t *testing.T, certFile, root string) {
	t.Helper()
	raw, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	block, rest := pem.Decode(raw)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(root))
	inter.AppendCertsFromPEM(rest)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("%s does not chain to the root: %v", certFile, err)
	}
}

// requireFails runs a command that must fail with exit 1 and one line on
// stderr containing want.
func requireFails(t *testing.T, data, want string, args ...string) {
	t.Helper()
	_, errOut, code := gh(t, data, args...)
	if code != exitError || !strings.Contains(errOut, want) || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("gatehouse %s: exit %d, stderr %q; want exit 1 and one line with %q", strings.Join(args, " "), code, errOut, want)
	}
}

func TestCAPassphraseSetAndChange(t *testing.T) {
	noPassphraseSources(t)
	data, dir := initData(t), t.TempDir()
	p1, p2, wrong := writePass(t, "correct horse"), writePass(t, "battery staple"), writePass(t, "tr0ub4dor")
	mustGH(t, data, "cert", "create", "--cn", "before", "--out", filepath.Join(dir, "before"))
	root := mustGH(t, data, "ca", "export")

	if out := mustGH(t, data, "ca", "passphrase", "set", "--new-passphrase-file", p1); !strings.Contains(out, "encrypted 2 CA keys") {
		t.Fatalf("set printed %q", out)
	}
	requireFails(t, data, "--ca-passphrase-file FILE", "cert", "list")
	db := filepath.Join(data, app.DBFile)
	if _, errOut, code := gh(t, data, "--ca-passphrase-file", wrong, "cert", "list"); code != exitError || errOut != "gatehouse: wrong CA passphrase for "+db+"\n" {
		t.Fatalf("wrong passphrase: exit %d, stderr %q", code, errOut)
	}
	mustGH(t, data, "--ca-passphrase-file", p1, "cert", "create", "--cn", "after", "--out", filepath.Join(dir, "after"))
	if got := mustGH(t, data, "--ca-passphrase-file", p1, "ca", "export"); got != root {
		t.Fatal("the root changed")
	}
	requireChainsTo(t, filepath.Join(dir, "before", "client.crt"), root)
	requireChainsTo(t, filepath.Join(dir, "after", "client.crt"), root)
	requireFails(t, data, "already encrypted", "ca", "passphrase", "set", "--new-passphrase-file", p2)

	mustGH(t, data, "--ca-passphrase-file", p1, "ca", "passphrase", "change", "--new-passphrase-file", p2)
	requireFails(t, data, "wrong CA passphrase", "--ca-passphrase-file", p1, "cert", "list")
	audit := mustGH(t, data, "--ca-passphrase-file", p2, "audit")
	if !strings.Contains(audit, "ca.passphrase.set") || !strings.Contains(audit, "ca.passphrase.change") {
		t.Fatalf("audit lacks the conversions:\n%s", audit)
	}
	clear := t.TempDir()
	requireFails(t, clear, "nothing to change", "--ca-passphrase-file", p2, "ca", "passphrase", "change", "--new-passphrase-file", p1)
	mustGH(t, clear, "init") // only init creates a store (hardstore); ca list used to
	requireFails(t, clear, "not encrypted yet", "--ca-passphrase-file", p2, "ca", "passphrase", "change", "--new-passphrase-file", p1)
}

// ca passphrase set converts an existing store and never creates one (only
// init, serve, the TUI and demo do); it points to init, which makes the keys
// born encrypted (TestInitWithAPassphraseSealsTheNewKeys). Before the
// hardstore merge it created the store itself.
func TestCAPassphraseSetNeverCreatesAStore(t *testing.T) {
	noPassphraseSources(t)
	data := filepath.Join(t.TempDir(), "new")
	p := writePass(t, "correct horse")
	requireFails(t, data, "'gatehouse init --data "+data+" --ca-passphrase-file "+p+"'", "ca", "passphrase", "set", "--new-passphrase-file", p)
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("ca passphrase set created %s", data)
	}
}

func TestCAPassphraseSources(t *testing.T) {
	good, bad := writePass(t, "correct horse"), writePass(t, "wrong")
	credGood, credBad := filepath.Dir(writePass(t, "correct horse")), filepath.Dir(writePass(t, "wrong"))
	for _, d := range []string{credGood, credBad} {
		if err := os.Rename(filepath.Join(d, "pass"), filepath.Join(d, passphraseCredential)); err != nil {
			t.Fatal(err)
		}
	}
	crlf := filepath.Join(t.TempDir(), "crlf")
	os.WriteFile(crlf, []byte("correct horse\r\n\n"), 0o600)
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)

	data := initData(t)
	noPassphraseSources(t)
	mustGH(t, data, "ca", "passphrase", "set", "--new-passphrase-file", good)
	tests := map[string]struct {
		flag, env, cred string
		want            string // "" for success, else part of the error
	}{
		"ok/flag":                         {flag: good},
		"ok/environment":                  {env: good},
		"ok/systemd credential":           {cred: credGood},
		"ok/flag before environment":      {flag: good, env: bad},
		"ok/environment before cred":      {env: good, cred: credBad},
		"ok/trailing CR LF trimmed":       {flag: crlf},
		"fail/flag before environment":    {flag: bad, env: good, want: "wrong CA passphrase"},
		"fail/credentials dir without it": {cred: t.TempDir(), want: "are encrypted: give the passphrase"},
		"fail/none":                       {want: "are encrypted: give the passphrase"},
		"fail/empty":                      {flag: empty, want: "is empty"},
		"fail/missing file":               {flag: filepath.Join(t.TempDir(), "nope"), want: "read CA passphrase"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Setenv(passphraseEnv, tc.env)
			t.Setenv("CREDENTIALS_DIRECTORY", tc.cred)
			args := []string{"ca", "list"}
			if tc.flag != "" {
				args = append([]string{"--ca-passphrase-file", tc.flag}, args...)
			}
			if tc.want == "" {
				mustGH(t, data, args...)
				return
			}
			requireFails(t, data, tc.want, args...)
		})
	}
}

func TestCAPassphraseUsageErrors(t *testing.T) {
	noPassphraseSources(t)
	p := writePass(t, "correct horse")
	tests := map[string]struct {
		args []string
		want string
	}{
		"fail/change without new":     {[]string{"--ca-passphrase-file", p, "ca", "passphrase", "change"}, "--new-passphrase-file FILE is required"},
		"fail/change without current": {[]string{"ca", "passphrase", "change", "--new-passphrase-file", p}, "needs the current passphrase"},
		"fail/set without new":        {[]string{"ca", "passphrase", "set"}, "needs the new passphrase"},
		"fail/bare passphrase":        {[]string{"ca", "passphrase"}, "needs a subcommand"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			data := t.TempDir()
			_, errOut, code := gh(t, data, tc.args...)
			if code != exitUsage || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 with %q", code, errOut, tc.want)
			}
			if _, err := os.Stat(filepath.Join(data, app.DBFile)); err == nil {
				t.Fatal("a usage error created a store")
			}
		})
	}
}

// startSealedDaemon runs a daemon that opened the store with the passphrase in file.
func startSealedDaemon(t *testing.T, data, file string) *daemon {
	t.Helper()
	bf := brokerFlags{cfg: app.BrokerConfig{MQTTS: "127.0.0.1:0", WSS: "127.0.0.1:0"}}
	d, err := (&globals{caPassFile: file}).startDaemon(data, bf, slog.New(slog.NewTextHandler(io.Discard, nil)), "")
	if err != nil {
		t.Fatalf("start daemon: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestCAPassphraseAndARunningDaemon(t *testing.T) {
	noPassphraseSources(t)
	data, p := initData(t), writePass(t, "correct horse")
	mustGH(t, data, "ca", "passphrase", "set", "--new-passphrase-file", p)
	d := startSealedDaemon(t, data, p)
	// Through the daemon no command needs the passphrase.
	mustGH(t, data, "cert", "create", "--cn", "dev", "--out", filepath.Join(t.TempDir(), "dev"))
	requireFails(t, data, "stop it", "ca", "passphrase", "change", "--ca-passphrase-file", p, "--new-passphrase-file", p)
	requireFails(t, data, "stop it", "ca", "passphrase", "set", "--new-passphrase-file", p)
	if w := d.app.Warnings(); len(w) != 0 {
		t.Fatalf("sealed store warns: %v", w)
	}
}

func TestClearCAKeysAreReportedToTheTUI(t *testing.T) {
	noPassphraseSources(t)
	data := t.TempDir()
	startTestDaemon(t, data, "")
	c, err := admin.Dial(data, "tui")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := c.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Warnings) != 1 || !strings.Contains(snap.Warnings[0], "not encrypted at rest") || !strings.Contains(snap.Warnings[0], "ca passphrase set") {
		t.Fatalf("snapshot warnings %q", snap.Warnings)
	}
}

// caKeyMaterial is every clear form of the store's CA keys a scan looks
// for: the PKCS#8 DER, its base64 as a PEM body starts, the EC scalar D raw
// and in hex.
func caKeyMaterial(t *testing.T, db string) map[string][]byte {
	t.Helper()
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cas, err := st.ListCAs()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, ca := range cas {
		if ca.KeyPEM == "" {
			continue
		}
		block, _ := pem.Decode([]byte(ca.KeyPEM))
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		d := key.(*ecdsa.PrivateKey).D.FillBytes(make([]byte, 32))
		out[fmt.Sprintf("%s PKCS#8 DER", ca.Role)] = der
		out[fmt.Sprintf("%s PKCS#8 base64", ca.Role)] = []byte(base64.StdEncoding.EncodeToString(der[:48]))
		out[fmt.Sprintf("%s EC scalar D", ca.Role)] = d
		out[fmt.Sprintf("%s EC scalar D hex", ca.Role)] = []byte(hex.EncodeToString(d))
	}
	if len(out) != 8 {
		t.Fatalf("found %d key forms, want 4 for each of root and issuing", len(out))
	}
	out[`"PRIVATE KEY" PEM marker`] = []byte("PRIVATE KEY")
	return out
}

// leaks lists the forms of material that occur anywhere in file.
func leaks(t *testing.T, file string, material map[string][]byte) []string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for name, b := range material {
		if bytes.Contains(raw, b) {
			found = append(found, name)
		}
	}
	slices.Sort(found)
	return found
}

func TestNoClearCAKeyBytesOnDisk(t *testing.T) {
	noPassphraseSources(t)
	data, dir := initData(t), t.TempDir()
	p := writePass(t, "correct horse")
	mustGH(t, data, "cert", "create", "--cn", "dev", "--out", filepath.Join(dir, "dev"))
	db := filepath.Join(data, app.DBFile)
	material := caKeyMaterial(t, db)
	// The scan finds clear keys where they are (bbolt stores the PEM text).
	if found := leaks(t, db, material); !slices.Contains(found, "root PKCS#8 base64") || !slices.Contains(found, `"PRIVATE KEY" PEM marker`) {
		t.Fatalf("the scan misses the clear keys: found %v", found)
	}

	mustGH(t, data, "ca", "passphrase", "set", "--new-passphrase-file", p)
	if found := leaks(t, db, material); len(found) != 0 {
		t.Fatalf("after 'ca passphrase set' the store file holds %v", found)
	}
	offline := filepath.Join(dir, "offline.db")
	mustGH(t, data, "--ca-passphrase-file", p, "backup", "--out", offline)
	startSealedDaemon(t, data, p)
	served := filepath.Join(dir, "served.db")
	mustGH(t, data, "backup", "--out", served)
	root := mustGH(t, data, "ca", "export")
	for _, backup := range []string{offline, served} {
		if found := leaks(t, backup, material); len(found) != 0 {
			t.Fatalf("backup %s holds %v", backup, found)
		}
		// Restored, the backup needs the passphrase and keeps the same CA.
		restored := t.TempDir()
		raw, _ := os.ReadFile(backup)
		os.WriteFile(filepath.Join(restored, app.DBFile), raw, 0o600)
		requireFails(t, restored, "are encrypted", "ca", "export")
		if got := mustGH(t, restored, "--ca-passphrase-file", p, "ca", "export"); got != root {
			t.Fatal("the restored backup has another root")
		}
	}
}

// doctor reads the passphrase as every command does: a sealed store is
// healthy with it, healthy but unchecked without it, and a wrong one is one
// line of error, never "damaged, restore from a backup".
func TestDoctorOnASealedStore(t *testing.T) {
	noPassphraseSources(t)
	data := initData(t)
	p, wrong := writePass(t, "correct horse"), writePass(t, "tr0ub4dor")
	mustGH(t, data, "ca", "passphrase", "set", "--new-passphrase-file", p)
	path := filepath.Join(data, app.DBFile)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		args   []string
		code   int
		stdout string // part of stdout
		stderr string // all of stderr
	}{
		"ok/with the passphrase":    {[]string{"--ca-passphrase-file", p, "doctor"}, exitOK, "root and issuing CA keys parse", ""},
		"ok/without the passphrase": {[]string{"doctor"}, exitOK, "encrypted at rest; give the CA passphrase", ""},
		"fail/wrong passphrase":     {[]string{"--ca-passphrase-file", wrong, "doctor"}, exitError, "", "gatehouse: wrong CA passphrase for " + path + "\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out, errOut, code := gh(t, data, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.stdout) || errOut != tc.stderr {
				t.Fatalf("exit %d (want %d)\nstdout %q (want %q in it)\nstderr %q (want %q)", code, tc.code, out, tc.stdout, errOut, tc.stderr)
			}
			if tc.code == exitOK && (!strings.Contains(out, "the store is healthy") || strings.Contains(out, "DAMAGED")) {
				t.Fatalf("a sealed store is reported damaged:\n%s", out)
			}
		})
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
		t.Fatal("doctor changed the store file")
	}
}

// init with a passphrase creates the CA keys encrypted, as serve does:
// never a clear key on disk that the next command then refuses.
func TestInitWithAPassphraseSealsTheNewKeys(t *testing.T) {
	noPassphraseSources(t)
	data := filepath.Join(t.TempDir(), "new")
	p := writePass(t, "correct horse")
	mustGH(t, data, "--ca-passphrase-file", p, "init")
	if raw, err := os.ReadFile(filepath.Join(data, app.DBFile)); err != nil || bytes.Contains(raw, []byte("PRIVATE KEY")) {
		t.Fatalf("init with a passphrase left a clear key in the store (read: %v)", err)
	}
	requireFails(t, data, "are encrypted", "ca", "list")
	mustGH(t, data, "--ca-passphrase-file", p, "ca", "list")
	if out := mustGH(t, data, "--ca-passphrase-file", p, "init"); !strings.Contains(out, "already exists") {
		t.Fatalf("a second init printed %q", out)
	}
}
