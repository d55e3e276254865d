package store_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// filledStore writes a closed store of n certificates and returns its path.
func filledStore(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		mustCreate(t, s, testCert(fmt.Sprintf("%04x", i+1), fmt.Sprintf("device-%04d", i+1)))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// damagePages overwrites the first 256 bytes of every page holding marker
// with random bytes (freed copies of a record may come before the live one).
func damagePages(t *testing.T, data, marker []byte) {
	t.Helper()
	page, found := os.Getpagesize(), false
	rng := rand.New(rand.NewPCG(1, 2))
	for off := 0; off+page <= len(data); off += page {
		if bytes.Contains(data[off:off+page], marker) {
			found = true
			for i := off; i < off+256; i++ {
				data[i] = byte(rng.Uint32())
			}
		}
	}
	if !found {
		t.Fatal("record not found in the file")
	}
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// The fault campaign's reproduction: 256 random bytes over the pages that hold
// a certificate record and its index entry. Open still succeeds (meta, freelist and root are
// intact); every later read that reaches the page must return ErrCorrupt
// instead of panicking with bbolt's page assertion.
func TestDamagedPageIsErrCorruptOnEveryRead(t *testing.T) {
	path := filledStore(t, 200)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	damagePages(t, data, []byte(`device-0150`)) // its record and its index entry
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, ro := range map[string]bool{"read-write": false, "read-only": true} {
		t.Run(name, func(t *testing.T) {
			s, err := store.Open(path, store.Options{ReadOnly: ro, Timeout: 100 * time.Millisecond})
			if err != nil {
				if !errors.Is(err, store.ErrCorrupt) {
					t.Fatalf("open: %v, want ErrCorrupt", err)
				}
				return
			}
			defer s.Close()
			reads := map[string]func() error{
				"States":    func() error { _, err := s.States(); return err },
				"ListCerts": func() error { _, _, err := s.ListCerts(store.CertQuery{}); return err },
				"GetCert":   func() error { _, err := s.GetCert("0096"); return err },
				"Resolve":   func() error { _, err := s.ResolveSerial("0096"); return err },
			}
			for what, read := range reads {
				err := read()
				if !errors.Is(err, store.ErrCorrupt) {
					t.Errorf("%s: %v, want ErrCorrupt", what, err)
				}
				if err != nil && !strings.Contains(err.Error(), path) {
					t.Errorf("%s: %q does not name the file", what, err)
				}
			}
		})
	}
}

func TestOpenRefusesEmptyAndTruncatedFiles(t *testing.T) {
	healthy := filledStore(t, 100)
	data, err := os.ReadFile(healthy)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{
		"fail/empty":          {},
		"fail/truncated-half": data[:len(data)/2],
		"fail/two-pages-only": data[:2*os.Getpagesize()],
		"fail/a-few-bytes":    data[:100],
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gatehouse.db")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			for _, ro := range []bool{false, true} {
				s, err := store.Open(path, store.Options{ReadOnly: ro, Timeout: 100 * time.Millisecond})
				if err == nil {
					s.Close()
					t.Fatalf("read-only=%v: Open succeeded on a damaged file", ro)
				}
				if !errors.Is(err, store.ErrCorrupt) {
					t.Fatalf("read-only=%v: %v, want ErrCorrupt", ro, err)
				}
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, content) {
				t.Fatal("a failed Open changed the file")
			}
		})
	}
}

func TestOpenMustExist(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	path := filepath.Join(dir, "gatehouse.db")
	for name, opts := range map[string]store.Options{
		"fail/must-exist": {MustExist: true},
		"fail/read-only":  {ReadOnly: true},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := store.Open(path, opts)
			if !errors.Is(err, store.ErrNoStore) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Open: %v, want ErrNoStore naming the path", err)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("Open created %s", dir)
			}
		})
	}
}

// A read-only open reads everything and leaves the file's bytes unchanged; a
// read-write open of the same file rewrites a meta page (the reason read-only
// commands must not use it).
func TestReadOnlyOpenLeavesTheFileUnchanged(t *testing.T) {
	path := filledStore(t, 50)
	before := fileHash(t, path)
	s, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if !s.ReadOnly() {
		t.Error("ReadOnly() = false")
	}
	certs, _, err := s.ListCerts(store.CertQuery{})
	if err != nil || len(certs) != 50 {
		t.Fatalf("ListCerts: %d, %v", len(certs), err)
	}
	if _, err := s.ListAudit(store.AuditQuery{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendAudit(store.AuditRecord{Action: "x"}); err == nil {
		t.Error("a write on a read-only store succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if fileHash(t, path) != before {
		t.Fatal("a read-only open changed the file")
	}
	s, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if fileHash(t, path) == before {
		t.Fatal("a read-write open left the file unchanged: the hash comparison proves nothing")
	}
}

// Several read-only opens share the lock; a read-write open waits for them.
func TestReadOnlyOpensShareTheLock(t *testing.T) {
	path := filledStore(t, 1)
	a, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := store.Open(path, store.Options{ReadOnly: true, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("second reader: %v", err)
	}
	b.Close()
	if _, err := store.Open(path, store.Options{Timeout: 100 * time.Millisecond}); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("writer beside a reader: %v, want ErrLocked", err)
	}
}

func TestVerify(t *testing.T) {
	healthy := filledStore(t, 200)
	damaged := filepath.Join(t.TempDir(), "gatehouse.db")
	data, _ := os.ReadFile(healthy)
	damagePages(t, data, []byte(`device-0150`)) // its record and its index entry
	if err := os.WriteFile(damaged, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		path string
		ok   bool
	}{"ok/healthy": {healthy, true}, "fail/damaged page": {damaged, false}} {
		t.Run(name, func(t *testing.T) {
			s, err := store.Open(tc.path, store.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			all := true
			for _, f := range mustVerify(t, s) {
				all = all && f.OK
				if !tc.ok && f.Check == "certificates" && (f.OK || !strings.Contains(f.Detail, "corrupt")) {
					t.Errorf("certificates finding %+v, want the damage", f)
				}
			}
			if all != tc.ok {
				t.Fatalf("all findings ok = %v, want %v: %+v", all, tc.ok, mustVerify(t, s))
			}
		})
	}
}

// mustVerify is Verify, failing the test when the store could not be read.
func mustVerify(t testing.TB, s *store.Store) []store.Finding {
	t.Helper()
	fs, err := s.Verify()
	if err != nil {
		t.Fatal(err)
	}
	return fs
}
