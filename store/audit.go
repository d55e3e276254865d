package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// AppendAudit appends a to the audit log and returns its sequence number.
// At defaults to now.
func (s *Store) AppendAudit(a AuditRecord) (uint64, error) {
	err := s.update(func(tx *bolt.Tx) error { return appendAudit(tx, &a) })
	if err != nil {
		return 0, fmt.Errorf("append audit %s: %w", a.Action, err)
	}
	return a.Seq, nil
}

// ListAudit returns audit records newest first, filtered by q. To page, pass
// the Seq of the last record returned as q.Before.
func (s *Store) ListAudit(q AuditQuery) ([]AuditRecord, error) {
	var out []AuditRecord
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		k, v := c.Last()
		if q.Before > 0 {
			k, v = c.Seek(seqKey(q.Before))
			if k == nil {
				k, v = c.Last()
			}
			if k != nil && binary.BigEndian.Uint64(k) >= q.Before {
				k, v = c.Prev()
			}
		}
		for ; k != nil; k, v = c.Prev() {
			if q.Limit > 0 && len(out) == q.Limit {
				return nil
			}
			var a AuditRecord
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("decode audit record %d: %w: %v", binary.BigEndian.Uint64(k), ErrCorrupt, err)
			}
			if (q.Serial != "" && a.Serial != q.Serial) || (q.CertID != "" && a.CertID != q.CertID) {
				continue
			}
			out = append(out, a)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}
