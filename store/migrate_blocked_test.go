package store

import (
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A store of schema 3 (before revocation blocked keys) with one revoked and
// one active certificate: opening it blocks the revoked one's key only.
func TestMigrateBlocksKeysOfRevokedCerts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	revokedAt := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	spki := map[State]string{}
	err = s.db.Update(func(tx *bolt.Tx) error {
		for i, st := range []State{StateRevoked, StateActive} {
			certPEM, issuer := selfSigned(t, int64(0x10+i), "CA")
			block, _ := pem.Decode([]byte(certPEM))
			leaf, _ := x509.ParseCertificate(block.Bytes)
			spki[st] = SPKIHash(leaf.RawSubjectPublicKeyInfo)
			serial := strconv.FormatInt(int64(0x10+i), 16)
			c := Cert{ID: CertID(serial, issuer), Serial: serial, CN: "dev-" + string(st), State: st, StateChangedAt: revokedAt, CertPEM: certPEM}
			if err := putJSON(boltTxn{tx}, bucketCerts, []byte(c.ID), c); err != nil {
				return err
			}
		}
		if err := tx.DeleteBucket(bucketBlockedKeys); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keySchema, []byte("3"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	keys, err := s.BlockedKeys()
	if err != nil {
		t.Fatal(err)
	}
	want := BlockedKey{SPKI: spki[StateRevoked], Serial: "10", CN: "dev-revoked", At: revokedAt}
	if len(keys) != 1 || keys[0].SPKI != want.SPKI || keys[0].Serial != want.Serial || keys[0].CN != want.CN || !keys[0].At.Equal(want.At) {
		t.Fatalf("blocked keys after the upgrade = %+v, want only %+v", keys, want)
	}
	// Idempotent: a second run keeps the one record as it was.
	if err := s.update(blockRevokedKeys); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.BlockedKeys(); len(again) != 1 || again[0] != keys[0] {
		t.Fatalf("a second run changed the blocklist: %+v", again)
	}
}
