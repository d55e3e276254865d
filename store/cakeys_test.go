package store_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse/gatehouse/store"
)

func putCAs(t *testing.T, s *store.Store) {
	t.Helper()
	for _, ca := range []store.CA{
		{ID: "rt", Role: store.RoleRoot, Subject: "CN=root", KeyPEM: "root key in the clear"},
		{ID: "is", Role: store.RoleIssuing, Subject: "CN=issuing", KeyPEM: "issuing key in the clear"},
	} {
		if err := s.PutCA(ca, store.AuditRecord{Action: "ca.create"}); err != nil {
			t.Fatal(err)
		}
	}
}

func keysOf(t *testing.T, s *store.Store) map[string]string {
	t.Helper()
	cas, err := s.ListCAs()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, ca := range cas {
		out[ca.ID] = ca.KeyPEM
	}
	return out
}

func TestReplaceCAKeysIsAllOrNothing(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open opener) {
		tests := map[string]struct {
			changes []store.CAKeyChange
			want    error
		}{
			"ok/both": {changes: []store.CAKeyChange{
				{ID: "rt", Old: "root key in the clear", New: "sealed root"},
				{ID: "is", Old: "issuing key in the clear", New: "sealed issuing"}}},
			"fail/second changed meanwhile": {changes: []store.CAKeyChange{
				{ID: "rt", Old: "root key in the clear", New: "sealed root"},
				{ID: "is", Old: "some other key", New: "sealed issuing"}}, want: store.ErrConflict},
			"fail/second missing": {changes: []store.CAKeyChange{
				{ID: "rt", Old: "root key in the clear", New: "sealed root"},
				{ID: "nope", Old: "", New: "sealed"}}, want: store.ErrNotFound},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				s := open(t)
				putCAs(t, s)
				before, _ := s.ListAudit(store.AuditQuery{})
				err := s.ReplaceCAKeys(tc.changes, store.AuditRecord{Actor: "alice", Action: "ca.passphrase.set"})
				if !errors.Is(err, tc.want) {
					t.Fatalf("ReplaceCAKeys = %v, want %v", err, tc.want)
				}
				keys := keysOf(t, s)
				after, _ := s.ListAudit(store.AuditQuery{})
				if tc.want != nil {
					if keys["rt"] != "root key in the clear" || len(after) != len(before) {
						t.Fatalf("a failed replacement changed something: %v, %d audit records", keys, len(after))
					}
					return
				}
				if keys["rt"] != "sealed root" || keys["is"] != "sealed issuing" {
					t.Fatalf("keys %v", keys)
				}
				if len(after) != len(before)+1 || after[0].Action != "ca.passphrase.set" || after[0].Actor != "alice" {
					t.Fatalf("audit %+v", after)
				}
			})
		}
	})
}

// bbolt leaves the pages a transaction freed as they were: a replaced key
// stays in the file until Compact rewrites it, records and sequences intact.
func TestCompactDropsReplacedValues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	putCAs(t, s)
	mustCreate(t, s, testCert("0a", "dev"))
	if err := s.ReplaceCAKeys([]store.CAKeyChange{
		{ID: "rt", Old: "root key in the clear", New: "sealed root"},
		{ID: "is", Old: "issuing key in the clear", New: "sealed issuing"}}, store.AuditRecord{Action: "ca.passphrase.set"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	secret := []byte("root key in the clear")
	if raw, _ := os.ReadFile(path); !bytes.Contains(raw, secret) {
		t.Fatal("the replaced key is gone before compaction: this test no longer shows why Compact is needed")
	}
	if err := store.Compact(path, store.Options{}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, secret) || bytes.Contains(raw, []byte("issuing key in the clear")) {
		t.Fatal("a replaced key is still in the file after Compact")
	}
	if _, err := os.Stat(path + ".compact"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary copy left behind: %v", err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("compacted file mode %v", fi.Mode().Perm())
	}
	s, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if keys := keysOf(t, s); keys["rt"] != "sealed root" || keys["is"] != "sealed issuing" {
		t.Fatalf("keys after compaction %v", keys)
	}
	if _, err := s.GetCert("0a"); err != nil {
		t.Fatal(err)
	}
	seq, err := s.AppendAudit(store.AuditRecord{Action: "after"})
	if err != nil || seq != 5 { // 2 CAs, 1 cert, the replacement, then this one
		t.Fatalf("audit sequence after compaction = %d, %v; want 5", seq, err)
	}
}

func TestCompactRefusesAStoreInUse(t *testing.T) {
	s := openTemp(t)
	if err := store.Compact(s.Path(), store.Options{}); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("Compact = %v, want ErrLocked", err)
	}
}
