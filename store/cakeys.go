package store

import (
	"encoding/json"
	"fmt"
)

// CAKeyChange replaces the stored private key of one CA, or with TokenKID
// set, of the token signing key (sealed with the CA keys' passphrase).
type CAKeyChange struct {
	ID       string // the CA
	TokenKID string // instead of a CA: the token signing key with this kid
	Old      string // the key the record must still hold (compare-and-swap)
	New      string // its replacement
}

// ReplaceCAKeys replaces the private keys of several CAs and appends audit,
// in one transaction: every key changes or none does, even if the process
// dies half-way. A missing CA yields an error wrapping ErrNotFound, a key that
// is no longer Old one wrapping ErrConflict.
//
// The replaced values stay readable in pages bbolt freed but did not wipe
// until Compact rewrites the file.
func (s *Store) ReplaceCAKeys(changes []CAKeyChange, audit AuditRecord) error {
	err := s.update(func(t txn) error {
		for _, c := range changes {
			if c.TokenKID != "" {
				if err := replaceTokenKey(t, c); err != nil {
					return err
				}
				continue
			}
			raw, err := t.get(bucketCA, []byte(c.ID))
			if err != nil {
				return err
			}
			if raw == nil {
				return fmt.Errorf("CA %s: %w", c.ID, ErrNotFound)
			}
			var r caRecord
			if err := json.Unmarshal(raw, &r); err != nil {
				return fmt.Errorf("decode CA %s: %w", c.ID, err)
			}
			if r.Key != c.Old {
				return fmt.Errorf("CA %s: %w", c.ID, ErrConflict)
			}
			r.Key = c.New
			if err := putJSON(t, bucketCA, []byte(c.ID), r); err != nil {
				return fmt.Errorf("write CA %s: %w", c.ID, err)
			}
		}
		return appendAudit(t, &audit)
	})
	if err != nil {
		return fmt.Errorf("replace CA keys: %w", err)
	}
	return nil
}
