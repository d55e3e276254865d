package store

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestMigrationsAreOrderedAndEndAtSchemaVersion(t *testing.T) {
	want := 2
	for _, m := range migrations {
		if m.to != want {
			t.Fatalf("migration %q goes to version %d, want %d", m.name, m.to, want)
		}
		want++
	}
	if last := want - 1; last != SchemaVersion {
		t.Fatalf("migrations end at version %d, SchemaVersion is %d", last, SchemaVersion)
	}
}

// schemaOne writes a store as schema 1 left it: serials printed by
// big.Int.Text(16), without their leading zero, in keys and audit records.
func schemaOne(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		for _, serial := range []string{"4673c77", "abcd"} {
			raw, _ := json.Marshal(map[string]any{"serial": serial, "cn": "dev-" + serial, "state": "active", "future_field": 7})
			if err := tx.Bucket(bucketCerts).Put([]byte(serial), raw); err != nil {
				return err
			}
			if err := appendAudit(tx, &AuditRecord{Action: "cert.create", Serial: serial}); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchema, []byte("1"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMigrateSerialsToOpensslForm(t *testing.T) {
	path := schemaOne(t)
	if _, err := Open(path, Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "gatehouse init") {
		t.Fatalf("read-only open of schema 1: %v, want a refusal saying how to upgrade", err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for old, want := range map[string]string{"4673c77": "04673c77", "abcd": "abcd"} {
		c, err := s.GetCert(want)
		if err != nil || c.Serial != want || c.CN != "dev-"+old {
			t.Fatalf("GetCert(%s) = %+v, %v", want, c, err)
		}
		if got, err := s.ResolveSerial(old); err != nil || got != want {
			t.Fatalf("ResolveSerial(%s) = %q, %v", old, got, err)
		}
	}
	if _, err := s.GetCert("4673c77"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the old key survived: %v", err)
	}
	recs, err := s.ListAudit(AuditQuery{Serial: "04673c77"})
	if err != nil || len(recs) != 1 {
		t.Fatalf("audit of the migrated serial: %+v, %v", recs, err)
	}
	err = s.view(func(tx *bolt.Tx) error {
		var fields map[string]any
		if err := json.Unmarshal(tx.Bucket(bucketCerts).Get([]byte("04673c77")), &fields); err != nil {
			return err
		}
		if fields["future_field"] != float64(7) {
			t.Errorf("a field unknown to this build was lost: %v", fields)
		}
		if v := string(tx.Bucket(bucketMeta).Get(keySchema)); v != "2" {
			t.Errorf("schema version %s after migration", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Idempotent: a second run finds nothing to change.
	if err := s.update(serialsInOpensslForm); err != nil {
		t.Fatal(err)
	}
	if certs, _, _ := s.ListCerts(CertQuery{}); len(certs) != 2 {
		t.Fatalf("%d certificates after a second run", len(certs))
	}
}
