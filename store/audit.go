package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// AppendAudit appends a to the audit log and returns its sequence number.
// At defaults to now.
func (s *Store) AppendAudit(a AuditRecord) (uint64, error) {
	err := s.update(func(t txn) error { return appendAudit(t, &a) })
	if err != nil {
		return 0, fmt.Errorf("append audit %s: %w", a.Action, err)
	}
	return a.Seq, nil
}

// ListAudit returns audit records newest first, filtered by q. To page, pass
// the Seq of the last record returned as q.Before.
func (s *Store) ListAudit(q AuditQuery) ([]AuditRecord, error) {
	var out []AuditRecord
	var from []byte // the newest record, or the one just before q.Before
	if q.Before > 1 {
		from = seqKey(q.Before - 1)
	}
	err := s.view(func(t txn) error {
		if q.Before == 1 {
			return nil
		}
		return t.scan(bucketAudit, from, true, func(k, v []byte) (bool, error) {
			if q.Limit > 0 && len(out) == q.Limit {
				return false, nil
			}
			var a AuditRecord
			if err := json.Unmarshal(v, &a); err != nil {
				return false, fmt.Errorf("decode audit record %d: %w: %v", binary.BigEndian.Uint64(k), ErrCorrupt, err)
			}
			if (q.Serial == "" || a.Serial == q.Serial) && (q.CertID == "" || a.CertID == q.CertID) {
				out = append(out, a)
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}
