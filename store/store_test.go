package store_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

func openTemp(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "data", "gatehouse.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func testCert(serial, cn string) store.Cert {
	// The ID is the serial alone: the store does not interpret IDs.
	now := time.Now().Truncate(time.Second)
	return store.Cert{
		ID: serial, Serial: serial, CN: cn, State: store.StateInactive, Source: store.SourceIssued,
		NotBefore: now, NotAfter: now.Add(time.Hour), CreatedAt: now,
		Fingerprint: strings.Repeat("0", 64), CertPEM: "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
	}
}

func mustCreate(t testing.TB, s *store.Store, certs ...store.Cert) {
	t.Helper()
	for _, c := range certs {
		if err := s.CreateCert(c, store.AuditRecord{Actor: "test", Action: "cert.create"}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "gatehouse.db")
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	mustCreate(t, s, testCert("01", "kept"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s mode = %v, want %v", p, fi.Mode(), want)
		}
	}
	s, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if c, err := s.GetCert("01"); err != nil || c.CN != "kept" {
		t.Fatalf("after reopen: %+v, %v", c, err)
	}
}

// A second Open of the same file in this process meets bbolt's flock: on Linux
// flock locks belong to the open file description, not the process.
func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	_, err = store.Open(path, store.Options{Timeout: 100 * time.Millisecond})
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	if want := "store " + path + " is locked by another process"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("lock wait took %v", d)
	}
}

// An Open that waits for another writer must judge the file as it is once the
// lock is free, not as it was when it first looked: the writer grows it.
func TestOpenWaitingForAGrowingWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	writer, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		s, err := store.Open(path, store.Options{Timeout: 10 * time.Second})
		if err == nil {
			err = s.Close()
		}
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // let the second Open look at the small file and wait
	for i := 0; i < 300; i++ {
		mustCreate(t, writer, testCert(fmt.Sprintf("%04x", i+1), "grow"))
	}
	if err := writer.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("waiting open: %v", err)
	}
}

func TestOpenCorrupt(t *testing.T) {
	for name, tc := range map[string]struct {
		file    string
		corrupt bool
		msg     string
	}{
		"fail/random-bytes":       {"random.db", true, "invalid database"},
		"fail/text-file":          {"text.db", true, "invalid database"},
		"fail/broken-freelist":    {"broken-pages.db", true, "freelist"},
		"fail/broken-root-page":   {"broken-root.db", true, ""},
		"fail/foreign-bbolt-file": {"foreign-bbolt.db", true, "without a gatehouse meta bucket"},
		"fail/newer-schema":       {"newer-schema.db", false, "newer than this gatehouse supports"},
	} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("..", "testdata", "db", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "gatehouse.db")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			// Twice: a failed Open must release the file lock.
			for range 2 {
				s, err := store.Open(path, store.Options{Timeout: 100 * time.Millisecond})
				if err == nil {
					s.Close()
					t.Fatal("Open succeeded")
				}
				if errors.Is(err, store.ErrCorrupt) != tc.corrupt {
					t.Fatalf("errors.Is(ErrCorrupt) = %v for %v", !tc.corrupt, err)
				}
				if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("message %q lacks the path or %q", err, tc.msg)
				}
			}
		})
	}
}

func TestCreateGetCert(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open opener) {
		s := open(t)
		c := testCert("3f2a01bc", "dev-1")
		c.SANs = []string{"dev-1.local"}
		if err := s.CreateCert(c, store.AuditRecord{Actor: "alice", Action: "cert.create"}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateCert(c, store.AuditRecord{}); !errors.Is(err, store.ErrExists) {
			t.Fatalf("second create: %v, want ErrExists", err)
		}
		got, err := s.GetCert(c.Serial)
		if err != nil || got.CN != "dev-1" || got.State != store.StateInactive || got.SANs[0] != "dev-1.local" || !got.NotAfter.Equal(c.NotAfter) {
			t.Fatalf("GetCert = %+v, %v", got, err)
		}
		if _, err := s.GetCert("beef"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetCert missing: %v", err)
		}
		audit, err := s.ListAudit(store.AuditQuery{})
		if err != nil || len(audit) != 1 || audit[0].Serial != c.Serial || audit[0].CN != "dev-1" || audit[0].Actor != "alice" {
			t.Fatalf("audit = %+v, %v", audit, err)
		}
	})
}
