package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// BlockedKey is a public key refused whatever certificate carries it, so a
// revoked device cannot come back with the same key under a new serial.
type BlockedKey struct {
	SPKI   string    `json:"spki"`   // SHA-256 of the SubjectPublicKeyInfo DER, lowercase hex
	Serial string    `json:"serial"` // the certificate whose revocation blocked it
	CN     string    `json:"cn"`
	At     time.Time `json:"at"`
}

// BlockKey adds k to the key blocklist. A key already blocked keeps its first
// record and nothing is written. It appends no audit record: blocking is part
// of the revocation that asks for it, whose record says so.
func (s *Store) BlockKey(k BlockedKey) error {
	if k.SPKI == "" {
		return fmt.Errorf("block key of %s: empty SPKI hash", k.Serial)
	}
	err := s.update(func(t txn) error {
		if raw, err := t.get(bucketBlockedKeys, []byte(k.SPKI)); err != nil || raw != nil {
			return err
		}
		return putJSON(t, bucketBlockedKeys, []byte(k.SPKI), k)
	})
	if err != nil {
		return fmt.Errorf("block key of %s: %w", k.Serial, err)
	}
	return nil
}

// BlockedKeys returns the key blocklist in SPKI hash order. A store without
// the bucket (opened read-only before it was created) has none.
func (s *Store) BlockedKeys() ([]BlockedKey, error) {
	var out []BlockedKey
	err := s.view(func(t txn) error {
		return forEach(t, bucketBlockedKeys, func(k, v []byte) error {
			var bk BlockedKey
			if err := json.Unmarshal(v, &bk); err != nil {
				return fmt.Errorf("decode blocked key %s: %w", k, err)
			}
			out = append(out, bk)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list blocked keys: %w", err)
	}
	return out, nil
}
