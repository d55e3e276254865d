package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// DeleteCA removes the CA with id and appends audit in the same transaction.
// It returns an error wrapping ErrNotFound when no such CA is stored.
func (s *Store) DeleteCA(id string, audit AuditRecord) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCA)
		if b.Get([]byte(id)) == nil {
			return ErrNotFound
		}
		if err := b.Delete([]byte(id)); err != nil {
			return err
		}
		return appendAudit(tx, &audit)
	})
	if err != nil {
		return fmt.Errorf("delete CA %s: %w", id, err)
	}
	return nil
}

// SetCAStrict sets the strict flag of the CA with id and appends audit in the
// same transaction; it returns the updated record (KeyPEM empty).
func (s *Store) SetCAStrict(id string, strict bool, audit AuditRecord) (CA, error) {
	return s.UpdateCA(id, func(ca *CA) { ca.Strict = strict }, audit)
}

// UpdateCA lets fn change the CA with id (not its key) and appends audit in
// the same transaction; it returns the updated record (KeyPEM empty). fn runs
// inside the write transaction and must not call the store.
func (s *Store) UpdateCA(id string, fn func(*CA), audit AuditRecord) (CA, error) {
	var r caRecord
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCA)
		raw := b.Get([]byte(id))
		if raw == nil {
			return ErrNotFound
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		fn(&r.CA)
		if err := putJSON(b, []byte(id), r); err != nil {
			return err
		}
		return appendAudit(tx, &audit)
	})
	if err != nil {
		return CA{}, fmt.Errorf("update CA %s: %w", id, err)
	}
	r.CA.KeyPEM = ""
	return r.CA, nil
}
