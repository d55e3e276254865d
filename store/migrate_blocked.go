package store

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
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
func blockRevokedKeys(t txn) error {
	var blocks []BlockedKey // written after the walk: a scan must not write
	err := forEach(t, bucketCerts, func(k, v []byte) error {
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
		blocks = append(blocks, BlockedKey{SPKI: h, Serial: c.Serial, CN: c.CN, At: c.StateChangedAt})
		return nil
	})
	if err != nil {
		return err
	}
	for _, b := range blocks {
		raw, err := t.get(bucketBlockedKeys, []byte(b.SPKI))
		if err != nil {
			return err
		}
		if raw != nil {
			continue
		}
		if err := putJSON(t, bucketBlockedKeys, []byte(b.SPKI), b); err != nil {
			return err
		}
	}
	return nil
}
