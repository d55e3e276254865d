package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// indexCert is a record as the index tests need it: a real fingerprint,
// a CN and an issuer, an expiry with nanoseconds.
func indexCert(serial string) Cert {
	now := time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))
	return Cert{ID: serial + "/00", Serial: serial, CN: "dev-" + serial, Issuer: "Issuing CA " + serial[:1],
		State: StateInactive, NotBefore: now, NotAfter: now.Add(90 * 24 * time.Hour), CreatedAt: now,
		Fingerprint: strings.Repeat(serial[:2], 32), CertPEM: "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"}
}

// requireIndexAgrees fails unless the index holds exactly the indexed fields
// of every record and Verify finds them in agreement.
func requireIndexAgrees(t *testing.T, s *Store) {
	t.Helper()
	certs, _, err := s.ListCerts(CertQuery{})
	if err != nil {
		t.Fatal(err)
	}
	states, err := s.States()
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != len(certs) {
		t.Fatalf("%d index entries for %d records", len(states), len(certs))
	}
	for i, c := range certs {
		want := CertState{ID: c.ID, Serial: c.Serial, State: c.State, NotAfter: c.NotAfter.UTC(), CN: c.CN, Issuer: c.Issuer, Fingerprint: c.Fingerprint}
		if got := states[i]; got != want {
			t.Fatalf("entry %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
	if n, err := s.CountCerts(); err != nil || n != len(certs) {
		t.Fatalf("CountCerts = %d, %v; want %d", n, err, len(certs))
	}
	for _, f := range mustVerify(t, s) {
		if f.Check == "certificate index" && !f.OK {
			t.Fatalf("Verify: %s", f.Detail)
		}
	}
}

// Every write of a record writes its entry in the same transaction, and a
// write that fails writes neither.
func TestIndexFollowsEveryWrite(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "gatehouse.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	odd := indexCert("cc03")
	odd.Fingerprint = "not-hex" // kept as text, still equal to the record's
	steps := []struct {
		name string
		run  func() error
	}{
		{"create", func() error { return s.CreateCert(indexCert("aa01"), AuditRecord{Action: "cert.create"}) }},
		{"create many", func() error {
			return s.CreateCerts([]Cert{indexCert("bb02"), odd}, []AuditRecord{{Action: "cert.import"}, {Action: "cert.import"}})
		}},
		{"activate", func() error {
			_, err := s.Transition("aa01/00", StateInactive, StateActive, AuditRecord{Action: "cert.activate"})
			return err
		}},
		{"suspend", func() error {
			_, err := s.Transition("aa01/00", StateActive, StateSuspended, AuditRecord{Action: "cert.suspend"})
			return err
		}},
		{"revoke", func() error {
			_, err := s.Transition("bb02/00", StateInactive, StateRevoked, AuditRecord{Action: "cert.revoke"})
			return err
		}},
	}
	for _, step := range steps {
		if err := step.run(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		requireIndexAgrees(t, s)
	}
	// A batch with a taken ID stores none of its certificates, nor their entries.
	err = s.CreateCerts([]Cert{indexCert("dd04"), indexCert("aa01")}, []AuditRecord{{}, {}})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("batch with a taken ID: %v, want ErrExists", err)
	}
	if _, err := s.Transition("cc03/00", StateActive, StateRevoked, AuditRecord{}); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale transition: %v, want ErrConflict", err)
	}
	requireIndexAgrees(t, s)
	if states, _ := s.States(); len(states) != 3 || states[0].State != StateSuspended || states[1].State != StateRevoked {
		t.Fatalf("states after the failed writes: %+v", states)
	}
}

// A store of schema 4 (before the index) gets the index built from its
// records when opened read-write; a read-only open refuses it meanwhile.
func TestMigrateBuildsCertificateIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		for i, st := range []State{StateActive, StateSuspended, StateRevoked} {
			c := indexCert(fmt.Sprintf("%x%x0%d", i+10, i+10, i))
			c.State = st
			if err := putJSON(boltTxn{tx}, bucketCerts, []byte(c.ID), c); err != nil {
				return err
			}
		}
		if err := tx.DeleteBucket(bucketCertIndex); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keySchema, []byte("4"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if f := checkIndexOf(t, s); !f.OK || !strings.Contains(f.Detail, "not built yet") {
		t.Fatalf("a schema-4 store's missing index: %+v", f)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{ReadOnly: true}); err == nil {
		t.Fatal("read-only open of schema 4 succeeded")
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	requireIndexAgrees(t, s)
	if states, _ := s.States(); len(states) != 3 || states[2].State != StateRevoked {
		t.Fatalf("states after migration: %+v", states)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := string(tx.Bucket(bucketMeta).Get(keySchema)); v != strconv.Itoa(SchemaVersion) {
			t.Errorf("schema version %s after migration", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Idempotent: a second run rebuilds the same entries.
	if err := s.update(buildCertIndex); err != nil {
		t.Fatal(err)
	}
	requireIndexAgrees(t, s)
}

func checkIndexOf(t *testing.T, s *Store) (f Finding) {
	t.Helper()
	if err := s.db.View(func(tx *bolt.Tx) error { f = checkIndex(boltTxn{tx}); return nil }); err != nil {
		t.Fatal(err)
	}
	return f
}

// Verify (what doctor runs) reports every way the index can disagree with
// the records, naming the certificate.
func TestVerifyReportsIndexDisagreement(t *testing.T) {
	for name, tc := range map[string]struct {
		damage func(tx *bolt.Tx) error
		want   string
	}{
		"entry with another state": {func(tx *bolt.Tx) error {
			c := indexCert("aa01")
			c.State = StateActive
			return tx.Bucket(bucketCertIndex).Put([]byte(c.ID), encodeEntry(c))
		}, `"aa01/00": the entry says state "active" where the record has "inactive"`},
		"entry with another fingerprint": {func(tx *bolt.Tx) error {
			c := indexCert("aa01")
			c.Fingerprint = strings.Repeat("ff", 32)
			return tx.Bucket(bucketCertIndex).Put([]byte(c.ID), encodeEntry(c))
		}, `"aa01/00": the entry says fingerprint "ffff`},
		"missing entry":  {func(tx *bolt.Tx) error { return tx.Bucket(bucketCertIndex).Delete([]byte("bb02/00")) }, `"bb02/00" has no entry`},
		"orphan entry":   {func(tx *bolt.Tx) error { return putIndex(boltTxn{tx}, indexCert("ee05")) }, `entry "ee05/00" has no record`},
		"undecodable":    {func(tx *bolt.Tx) error { return tx.Bucket(bucketCertIndex).Put([]byte("aa01/00"), []byte{1, 2}) }, `bad certificate index entry "aa01/00"`},
		"unknown format": {func(tx *bolt.Tx) error { return tx.Bucket(bucketCertIndex).Put([]byte("aa01/00"), []byte{9}) }, "unknown format"},
		"bucket is gone": {func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketCertIndex) }, `bucket "cert_index" is missing`},
		"short fingerprint": {func(tx *bolt.Tx) error {
			e := encodeEntry(indexCert("aa01"))
			return tx.Bucket(bucketCertIndex).Put([]byte("aa01/00"), e[:len(e)-1])
		}, "fingerprint of 31 bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := Open(filepath.Join(t.TempDir(), "gatehouse.db"), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.CreateCerts([]Cert{indexCert("aa01"), indexCert("bb02")}, []AuditRecord{{}, {}}); err != nil {
				t.Fatal(err)
			}
			if f := checkIndexOf(t, s); !f.OK {
				t.Fatalf("before the damage: %+v", f)
			}
			if err := s.db.Update(tc.damage); err != nil {
				t.Fatal(err)
			}
			var found bool
			for _, f := range mustVerify(t, s) {
				if f.Check != "certificate index" {
					continue
				}
				found = true
				if f.OK || !strings.Contains(f.Detail, tc.want) {
					t.Fatalf("finding %+v, want a failure saying %q", f, tc.want)
				}
			}
			if !found {
				t.Fatal("Verify has no certificate index finding")
			}
		})
	}
}

// A damaged entry is ErrCorrupt when start-up reads it, never a panic or a
// wrong state.
func TestDamagedEntryIsErrCorrupt(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "gatehouse.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateCert(indexCert("aa01"), AuditRecord{}); err != nil {
		t.Fatal(err)
	}
	good := encodeEntry(indexCert("aa01"))
	for cut := range len(good) - 1 {
		err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketCertIndex).Put([]byte("aa01/00"), good[:cut]) })
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.States(); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("entry cut to %d bytes: %v, want ErrCorrupt", cut, err)
		}
	}
}

// mustVerify is Verify, failing the test when the store could not be read.
func mustVerify(t testing.TB, s *Store) []Finding {
	t.Helper()
	fs, err := s.Verify()
	if err != nil {
		t.Fatal(err)
	}
	return fs
}
