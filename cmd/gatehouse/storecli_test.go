package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

// writeRawCert puts raw bytes under key in the store's certs bucket, as
// damage that bbolt's page check cannot see would.
func writeRawCert(t *testing.T, path, key string, raw []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("certs")).Put([]byte(key), raw) }); err != nil {
		t.Fatal(err)
	}
}

func sha(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// oneLineFailure asserts a command failed with exit 1 and one stderr line
// containing want.
func oneLineFailure(t *testing.T, data, want string, args ...string) {
	t.Helper()
	out, errOut, code := gh(t, data, args...)
	if code != exitError || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, want) {
		t.Fatalf("%v: exit %d, stdout %q, stderr %q: want exit 1 and one line with %q", args, code, out, errOut, want)
	}
}

// No command but serve, the TUI, demo and init creates a store: a mistyped
// --data must not look like a PKI whose certificates vanished.
func TestCommandsNeverCreateAStore(t *testing.T) {
	for name, args := range map[string][]string{
		"fail/cert list":    {"cert", "list"},
		"fail/cert show":    {"cert", "show", "abcdef"},
		"fail/cert suspend": {"cert", "suspend", "abcdef"},
		"fail/cert create":  {"cert", "create", "--cn", "d"},
		"fail/audit":        {"audit"},
		"fail/events":       {"events"},
		"fail/ca export":    {"ca", "export"},
		"fail/ca list":      {"ca", "list"},
		"fail/mtls status":  {"mtls", "status"},
		"fail/conn list":    {"conn", "list"},
		"fail/backup":       {"backup", "--out", filepath.Join(os.TempDir(), "never-written.db")},
	} {
		t.Run(name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "typo")
			oneLineFailure(t, data, "gatehouse init --data "+data, args...)
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Fatalf("%v created %s", args, data)
			}
		})
	}
}

func TestInitCreatesOnceAndSaysSo(t *testing.T) {
	data := filepath.Join(t.TempDir(), "gh")
	out := mustGH(t, data, "init")
	path := filepath.Join(data, app.DBFile)
	if !strings.Contains(out, "created "+path) {
		t.Fatalf("init printed %q", out)
	}
	if fi, err := os.Stat(data); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir: %v %v", fi, err)
	}
	if out := mustGH(t, data, "init"); !strings.Contains(out, "already exists at "+path) {
		t.Fatalf("second init printed %q", out)
	}
	var v struct {
		Store   string
		Created bool
	}
	if err := json.Unmarshal([]byte(mustGH(t, data, "init", "--json")), &v); err != nil || v.Store != path || v.Created {
		t.Fatalf("init --json: %+v %v", v, err)
	}
	if !strings.Contains(mustGH(t, data, "ca", "list"), "root") {
		t.Fatal("init made no root CA")
	}
}

// Read-only commands open the store read-only: its bytes stay as they were.
func TestReadOnlyCommandsLeaveTheStoreUnchanged(t *testing.T) {
	data := initData(t)
	serial := strings.TrimSpace(mustGH(t, data, "cert", "create", "--cn", "dev1", "--out", filepath.Join(t.TempDir(), "d")))
	path := filepath.Join(data, app.DBFile)
	before := sha(t, path)
	for _, args := range [][]string{
		{"cert", "list"}, {"cert", "list", "--json"}, {"cert", "show", serial[:8]}, {"audit"}, {"audit", "--serial", serial},
		{"events"}, {"ca", "export"}, {"ca", "list"}, {"mtls", "status"}, {"conn", "list"}, {"doctor"},
		{"acl", "list"}, {"acl", "test", "--cert", serial[:8], "--action", "publish", "--topic", "devices/dev1/t"},
		{"ca", "crl", "--out", filepath.Join(t.TempDir(), "crl.der")},
		{"__complete", "cert", "suspend", ""},
	} {
		mustGH(t, data, args...)
		if sha(t, path) != before {
			t.Fatalf("%v changed the store file", args)
		}
	}
	mustGH(t, data, "cert", "suspend", serial[:8])
	if sha(t, path) == before {
		t.Fatal("a suspend left the file unchanged: the comparison proves nothing")
	}
}

func TestEmptyOrTruncatedStoreIsNeverANewPKI(t *testing.T) {
	data := initData(t)
	path := filepath.Join(data, app.DBFile)
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{"fail/empty": nil, "fail/truncated": full[:3*os.Getpagesize()]} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"cert", "list"}, {"audit"}, {"cert", "create", "--cn", "d", "--out", filepath.Join(t.TempDir(), "d")}, {"init"}} {
				oneLineFailure(t, data, "corrupt", args...)
			}
			if got, _ := os.ReadFile(path); string(got) != string(content) {
				t.Fatal("the damaged file was changed")
			}
		})
	}
}

func TestDoctor(t *testing.T) {
	fixture := func(name string) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "db", name))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, tc := range map[string]struct {
		damage func(t *testing.T, path string)
		want   string
	}{
		"ok/healthy":            {nil, "the store is healthy"},
		"fail/broken pages":     {fixture("broken-pages.db"), "freelist"},
		"fail/broken root":      {fixture("broken-root.db"), "DAMAGED"},
		"fail/random bytes":     {fixture("random.db"), "invalid database"},
		"fail/newer schema":     {fixture("newer-schema.db"), "newer than this gatehouse"},
		"fail/foreign bbolt":    {fixture("foreign-bbolt.db"), "without a gatehouse meta bucket"},
		"fail/empty":            {func(t *testing.T, p string) { os.WriteFile(p, nil, 0o600) }, "empty"},
		"fail/undecodable cert": {nil, "do not decode"}, // filled in below
	} {
		t.Run(name, func(t *testing.T) {
			data := initData(t)
			path := filepath.Join(data, app.DBFile)
			if name == "fail/undecodable cert" {
				tc.damage = func(t *testing.T, p string) { writeRawCert(t, p, "beef01", []byte("\x1b[2Jnot json")) }
			}
			if tc.damage != nil {
				tc.damage(t, path)
			}
			before := sha(t, path)
			out, errOut, code := gh(t, data, "doctor")
			healthy := strings.HasPrefix(name, "ok/")
			if (code == exitOK) != healthy || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, stdout:\n%s\nstderr %q: want %q", code, out, errOut, tc.want)
			}
			if !healthy && (!strings.Contains(out, "gatehouse backup") || !strings.Contains(out, "docs/operations.md") || strings.Count(errOut, "\n") != 1) {
				t.Fatalf("no restore advice or not one error line:\n%s\n%s", out, errOut)
			}
			if strings.Contains(out, "\x1b") {
				t.Fatal("doctor printed a raw escape from the file")
			}
			if sha(t, path) != before {
				t.Fatal("doctor changed the file")
			}
		})
	}
}

// The store holds the CA keys: a copy left group- or world-readable is
// tightened to 0600 with one warning, or refused when it belongs to another
// user (changing someone else's file is not ours to do).
func TestStoreFileOpenToOthers(t *testing.T) {
	t.Run("ok/ours is tightened with a warning", func(t *testing.T) {
		data := initData(t)
		path := filepath.Join(data, app.DBFile)
		os.Chmod(path, 0o666)
		_, errOut, code := gh(t, data, "cert", "list")
		if code != exitOK || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "warning") || !strings.Contains(errOut, "0666") {
			t.Fatalf("exit %d, stderr %q: want one warning line", code, errOut)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
		}
		if _, errOut, _ := gh(t, data, "cert", "list"); errOut != "" {
			t.Fatalf("the warning repeats: %q", errOut)
		}
	})
	t.Run("fail/another user's is refused", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to give the file to another user")
		}
		data := initData(t)
		path := filepath.Join(data, app.DBFile)
		os.Chmod(path, 0o644)
		if err := os.Chown(path, 4242, 4242); err != nil {
			t.Fatal(err)
		}
		oneLineFailure(t, data, "uid 4242", "cert", "list")
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
			t.Fatalf("another user's file was changed to %v", fi.Mode().Perm())
		}
	})
}

// A create whose files cannot be written must not issue: no record, no audit
// entry, no file. A path under a regular file fails even for root.
func TestCreateWithUnwritableOutIssuesNothing(t *testing.T) {
	for name, args := range map[string][]string{
		"fail/under a file":            {"--out", "FILE/sub"},
		"fail/under a file with force": {"--out", "FILE/sub", "--force"},
		"fail/deeper with force":       {"--out", "FILE/a/b", "--force"},
	} {
		t.Run(name, func(t *testing.T) {
			data := initData(t)
			file := filepath.Join(t.TempDir(), "file")
			if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			for i, a := range args {
				args[i] = strings.Replace(a, "FILE", file, 1)
			}
			oneLineFailure(t, data, "not a directory", append([]string{"cert", "create", "--cn", "orphan"}, args...)...)
			if out := mustGH(t, data, "cert", "list", "--json"); strings.TrimSpace(out) != "[]" {
				t.Fatalf("a failed create left a record: %s", out)
			}
			if strings.Contains(mustGH(t, data, "audit"), "cert.create") {
				t.Fatal("a failed create was audited as issued")
			}
			if b, _ := os.ReadFile(file); string(b) != "x" {
				t.Fatal("the file in the way was changed")
			}
		})
	}
}

func writeCSR(t *testing.T, path, cn string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// cert sign --out refuses an existing file, as cert create and backup do,
// before it signs anything.
func TestSignRefusesExistingOutWithoutForce(t *testing.T) {
	data, dir := initData(t), t.TempDir()
	csr, out := filepath.Join(dir, "dev.csr"), filepath.Join(dir, "dev.crt")
	writeCSR(t, csr, "dev9")
	os.WriteFile(out, []byte("keep me"), 0o644)
	oneLineFailure(t, data, "--force", "cert", "sign", "--csr", csr, "--out", out)
	if b, _ := os.ReadFile(out); string(b) != "keep me" {
		t.Fatal("cert sign overwrote --out without --force")
	}
	if list := mustGH(t, data, "cert", "list", "--json"); strings.TrimSpace(list) != "[]" {
		t.Fatalf("a refused sign left a record: %s", list)
	}
	serial := strings.TrimSpace(mustGH(t, data, "cert", "sign", "--csr", csr, "--out", out, "--force"))
	if b, _ := os.ReadFile(out); !strings.HasPrefix(string(b), "-----BEGIN CERTIFICATE-----") || serial == "" {
		t.Fatalf("--force did not write the chain: %q, serial %q", b, serial)
	}
}

// Serials print as openssl prints them (every byte's two digits, so an even
// length and any leading zero kept) and are found in openssl's forms.
func TestSerialsInOpensslForm(t *testing.T) {
	data, dir := initData(t), t.TempDir()
	serial := strings.TrimSpace(mustGH(t, data, "cert", "create", "--cn", "dev1", "--out", dir))
	b, err := os.ReadFile(filepath.Join(dir, "client.crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.ToLower(fmt.Sprintf("%X", leaf.SerialNumber.Bytes())); serial != want || len(serial)%2 != 0 {
		t.Fatalf("printed serial %q, openssl's digits are %q", serial, want)
	}
	var colons []string
	for i := 0; i < len(serial); i += 2 {
		colons = append(colons, strings.ToUpper(serial[i:i+2]))
	}
	for name, form := range map[string]string{
		"ok/openssl -serial": strings.ToUpper(serial),
		"ok/openssl -text":   strings.Join(colons, ":"),
		"ok/prefix":          serial[:8],
	} {
		t.Run(name, func(t *testing.T) {
			if out := mustGH(t, data, "cert", "show", form); !strings.Contains(out, "Serial:       "+serial) {
				t.Fatalf("cert show %s:\n%s", form, out)
			}
		})
	}
}

// The fault campaign's reproduction: 256 random bytes over the pages holding
// a certificate. Every command, serve included, fails in one line
// naming the damage; none panics with a goroutine dump, and doctor says what
// is damaged.
func TestDamagedPageFailsInOneLine(t *testing.T) {
	data := initData(t)
	path := filepath.Join(data, app.DBFile)
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		c := store.Cert{ID: fmt.Sprintf("%04x/00", i+1), Serial: fmt.Sprintf("%04x", i+1), CN: fmt.Sprintf("device-%04d", i+1), State: store.StateInactive,
			NotAfter: time.Now().Add(time.Hour), Fingerprint: strings.Repeat("ab", 32), CertPEM: strings.Repeat("x", 400)}
		if err := st.CreateCert(c, store.AuditRecord{Action: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Every page holding the certificate, its record and its index entry
	// (what serve reads at start): freed copies of them may come first.
	page, marker, found := os.Getpagesize(), []byte(`device-0150`), false
	for off := 0; off+page <= len(b); off += page {
		if bytes.Contains(b[off:off+page], marker) {
			found = true
			if _, err := rand.Read(b[off : off+256]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !found {
		t.Fatal("record not found")
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"cert", "list"}, {"audit"}, {"serve", "--mqtts", "127.0.0.1:0", "--wss", "127.0.0.1:0"}} {
		oneLineFailure(t, data, "corrupt", args...)
	}
	out, _, code := gh(t, data, "doctor")
	if code != exitError || !strings.Contains(out, "DAMAGED") || !strings.Contains(out, "to restore") {
		t.Fatalf("doctor: exit %d\n%s", code, out)
	}
}

// A record that does not decode is reported as corruption, in one line,
// with the binary it holds quoted rather than sent to the terminal.
func TestUndecodableRecordIsOneInertLine(t *testing.T) {
	data := initData(t)
	writeRawCert(t, filepath.Join(data, app.DBFile), "beef\x1b[2J/01", []byte("\x1b[2J\x00\xffnot json"))
	// One with a serial that cert show finds: names resolve from the
	// certificate index, which a raw write leaves without an entry.
	writeRawCert(t, filepath.Join(data, app.DBFile), "beef01/01", []byte("\x1b[2J\x00\xffnot json"))
	for _, args := range [][]string{{"cert", "list"}, {"cert", "show", "beef01"}} {
		_, errOut, code := gh(t, data, args...)
		if code != exitError || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "corrupt") || strings.ContainsAny(errOut, "\x1b\x00") {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}
