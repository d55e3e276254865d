package store

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

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

// selfSigned returns a certificate PEM with the given serial and issuer CN,
// and the issuer's raw name.
func selfSigned(t *testing.T, serial int64, cn string) (string, []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), c.RawIssuer
}

// schemaOne writes a store as schema 1 left it: records keyed by serial
// alone, serials printed by big.Int.Text(16) without their leading zero.
func schemaOne(t *testing.T) (path string, issuers map[string][]byte) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "gatehouse.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	issuers = map[string][]byte{}
	err = s.db.Update(func(tx *bolt.Tx) error {
		for serial, n := range map[string]int64{"4673c77": 0x04673c77, "abcd": 0xabcd} {
			certPEM, issuer := selfSigned(t, n, "CA of "+serial)
			issuers[serial] = issuer
			raw, _ := json.Marshal(map[string]any{"serial": serial, "cn": "dev-" + serial, "state": "active", "cert_pem": certPEM, "future_field": 7})
			if err := tx.Bucket(bucketCerts).Put([]byte(serial), raw); err != nil {
				return err
			}
			if err := appendAudit(boltTxn{tx}, &AuditRecord{Action: "cert.create", Serial: serial}); err != nil {
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
	return path, issuers
}

func TestMigrateToIssuerAndSerialKeys(t *testing.T) {
	path, issuers := schemaOne(t)
	if _, err := Open(path, Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "gatehouse init") {
		t.Fatalf("read-only open of schema 1: %v, want a refusal saying how to upgrade", err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for old, serial := range map[string]string{"4673c77": "04673c77", "abcd": "abcd"} {
		id := CertID(serial, issuers[old])
		c, err := s.GetCert(id)
		if err != nil || c.Serial != serial || c.ID != id || c.CN != "dev-"+old {
			t.Fatalf("GetCert(%s) = %+v, %v", id, c, err)
		}
		if got, err := s.ResolveSerial(old); err != nil || got != id {
			t.Fatalf("ResolveSerial(%s) = %q, %v", old, got, err)
		}
		recs, err := s.ListAudit(AuditQuery{CertID: id})
		if err != nil || len(recs) != 1 || recs[0].Serial != serial {
			t.Fatalf("audit of %s: %+v, %v", id, recs, err)
		}
	}
	for _, old := range []string{"4673c77", "04673c77", "abcd"} {
		if _, err := s.GetCert(old); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a record under the bare serial %s survived: %v", old, err)
		}
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		var fields map[string]any
		if err := json.Unmarshal(tx.Bucket(bucketCerts).Get([]byte(CertID("04673c77", issuers["4673c77"]))), &fields); err != nil {
			return err
		}
		if fields["future_field"] != float64(7) {
			t.Errorf("a field unknown to this build was lost: %v", fields)
		}
		if v := string(tx.Bucket(bucketMeta).Get(keySchema)); v != strconv.Itoa(SchemaVersion) {
			t.Errorf("schema version %s after migration", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	before, _, _ := s.ListCerts(CertQuery{})
	// Idempotent: a second run finds nothing to change.
	if err := s.update(certsByIssuerAndSerial); err != nil {
		t.Fatal(err)
	}
	if after, _, _ := s.ListCerts(CertQuery{}); len(after) != 2 || after[0].ID != before[0].ID || after[1].ID != before[1].ID {
		t.Fatalf("a second run changed the records: %+v", after)
	}
}
