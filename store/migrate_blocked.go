package store

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// SPKIHash is the key blocklist's key for a DER SubjectPublicKeyInfo: its
// SHA-256 in lowercase hex.
func SPKIHash(spki []byte) string {
	sum := sha256.Sum256(spki)
	return hex.EncodeToString(sum[:])
}

// blockRevokedKeys puts the key of every revoked certificate on the key
// blocklist. Revocation blocks the key since the blocklist exists; a store
// from before it has revoked certificates whose keys would otherwise come
// back under a new serial. A key already blocked keeps its record, so the
// migration is idempotent.
func blockRevokedKeys(tx *bolt.Tx) error {
	blocked, err := tx.CreateBucketIfNotExists(bucketBlockedKeys)
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketBlockedKeys, err)
	}
	return tx.Bucket(bucketCerts).ForEach(func(k, v []byte) error {
		var c Cert
		if err := json.Unmarshal(v, &c); err != nil {
			return fmt.Errorf("certificate %q: %w: %v", k, ErrCorrupt, err)
		}
		if c.State != StateRevoked {
			return nil
		}
		block, _ := pem.Decode([]byte(c.CertPEM))
		if block == nil {
			return fmt.Errorf("certificate %q: %w: no certificate PEM to find its key", k, ErrCorrupt)
		}
		leaf, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return fmt.Errorf("certificate %q: %w: %v", k, ErrCorrupt, err)
		}
		h := SPKIHash(leaf.RawSubjectPublicKeyInfo)
		if blocked.Get([]byte(h)) != nil {
			return nil
		}
		return putJSON(blocked, []byte(h), BlockedKey{SPKI: h, Serial: c.Serial, CN: c.CN, At: c.StateChangedAt})
	})
}
