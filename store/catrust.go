package store

import (
	"cmp"
	"encoding/json"
	"fmt"
)

// DeleteCA removes the CA with id and appends audit in the same transaction.
// It returns an error wrapping ErrNotFound when no such CA is stored.
func (s *Store) DeleteCA(id string, audit AuditRecord) error {
	err := s.update(func(t txn) error {
		if raw, err := t.get(bucketCA, []byte(id)); err != nil || raw == nil {
			return cmp.Or(err, ErrNotFound)
		}
		if err := t.del(bucketCA, []byte(id)); err != nil {
			return err
		}
		return appendAudit(t, &audit)
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
	err := s.update(func(t txn) error {
		r = caRecord{}
		raw, err := t.get(bucketCA, []byte(id))
		if err != nil || raw == nil {
			return cmp.Or(err, ErrNotFound)
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		fn(&r.CA)
		if err := putJSON(t, bucketCA, []byte(id), r); err != nil {
			return err
		}
		return appendAudit(t, &audit)
	})
	if err != nil {
		return CA{}, fmt.Errorf("update CA %s: %w", id, err)
	}
	r.CA.KeyPEM = ""
	return r.CA, nil
}
