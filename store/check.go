package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// maxProblems bounds the problems one Finding lists; the count says the rest.
const maxProblems = 5

// Finding is one result of Verify: what was checked, whether it held, and
// what was found.
type Finding struct {
	Check  string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Verify checks the open store without changing it: the schema version, that
// every record of every bucket decodes, that the certificate index agrees
// with the records, and bbolt's own consistency check of
// every page (tx.Check). Damage shows as findings that do not hold, never
// as a panic. It is what `gatehouse doctor` runs on a read-only open. On
// etcd, which checks its own pages, the page check does not apply, and a
// read etcd did not answer (or a revision it compacted meanwhile) is not
// damage: Verify then returns the error, and no findings.
func (s *Store) Verify() ([]Finding, error) {
	var out []Finding
	var unread error // the first read etcd failed, on etcd
	err := s.view(func(t txn) error {
		if _, isBolt := t.(boltTxn); !isBolt {
			t = readsOf{txn: t, failed: &unread}
		}
		out = append(out, checkVersion(t))
		walked := true // every bucket's pages were read without a panic
		for _, b := range []struct {
			name   []byte
			what   string
			record func() any
		}{
			{bucketCerts, "certificates", func() any { return new(Cert) }},
			{bucketCA, "CAs", func() any { return new(caRecord) }},
			{bucketAudit, "audit records", func() any { return new(AuditRecord) }},
			{bucketSettings, "settings", func() any { return new(Settings) }},
		} {
			f, ok := s.guarded(b.what, func() Finding { return checkRecords(t, b.name, b.what, b.record) })
			out = append(out, f)
			walked = walked && ok
		}
		f, ok := s.guarded("certificate index", func() Finding { return checkIndex(t) })
		out = append(out, f)
		walked = walked && ok
		bt, isBolt := t.(boltTxn)
		// bbolt's check runs in a goroutine of its own, where a panic on a
		// damaged page cannot be recovered and would kill the process: it
		// runs only once the walk above has read every page in use.
		switch {
		case !isBolt:
			out = append(out, Finding{Check: "pages", OK: true, Detail: "not applicable: an etcd store (etcd checks its own data)"})
		case !walked:
			out = append(out, Finding{Check: "pages", Detail: "not checked: a damaged page (above) would crash bbolt's page check"})
		default:
			out = append(out, verifyPages(bt.tx))
		}
		return nil
	})
	if unread == nil && err != nil && s.db == nil {
		unread = err
	}
	if unread != nil {
		return nil, fmt.Errorf("check %s: %w", s.path, unread)
	}
	if err != nil {
		out = append(out, Finding{Check: "read", Detail: err.Error()})
	}
	return out, nil
}

// readsOf is an etcd transaction that notes the first read that failed,
// which the checks would otherwise report as damage.
type readsOf struct {
	txn
	failed *error
}

func (r readsOf) note(err error) error {
	if err != nil && *r.failed == nil {
		*r.failed = err
	}
	return err
}

// get fails at once after a read failed: the check has no verdict anyway,
// and each read would wait out the timeout again.
func (r readsOf) get(bucket, key []byte) ([]byte, error) {
	if *r.failed != nil {
		return nil, *r.failed
	}
	v, err := r.txn.get(bucket, key)
	return v, r.note(err)
}

// scan tells a read that failed from fn's own error (a check's finding).
func (r readsOf) scan(bucket, from []byte, reverse bool, fn func(k, v []byte) (bool, error)) error {
	if *r.failed != nil {
		return *r.failed
	}
	var fnErr error
	err := r.txn.scan(bucket, from, reverse, func(k, v []byte) (bool, error) {
		more, err := fn(k, v)
		fnErr = err
		return more, err
	})
	if err != nil && err != fnErr {
		r.note(err)
	}
	return err
}

// guarded runs one check, reporting a bbolt panic on a damaged page as a
// finding that does not hold (and ok false), so that the other checks still run.
func (s *Store) guarded(check string, fn func() Finding) (f Finding, ok bool) {
	err := guard(s.path, func() error { f = fn(); return nil })
	if err != nil {
		return Finding{Check: check, Detail: err.Error()}, false
	}
	return f, true
}

// verifyPages runs bbolt's page check: every page reachable once, none both
// free and in use, keys in order.
func verifyPages(tx *bolt.Tx) Finding {
	var problems []string
	n := 0
	for err := range tx.Check() {
		if n++; n <= maxProblems {
			problems = append(problems, err.Error())
		}
	}
	if n == 0 {
		return Finding{Check: "pages", OK: true, Detail: fmt.Sprintf("%d pages consistent", tx.Size()/int64(tx.DB().Info().PageSize))}
	}
	return Finding{Check: "pages", Detail: fmt.Sprintf("%d problems: %s", n, joinProblems(problems, n))}
}

func checkVersion(t txn) Finding {
	raw, err := t.get(bucketMeta, keySchema)
	if err != nil {
		return Finding{Check: "schema", Detail: err.Error()}
	}
	if raw == nil {
		return Finding{Check: "schema", Detail: "no schema version (no meta bucket)"}
	}
	v, err := strconv.Atoi(string(raw))
	switch {
	case err != nil || v < 1:
		return Finding{Check: "schema", Detail: fmt.Sprintf("bad schema version %q", raw)}
	case v > SchemaVersion:
		return Finding{Check: "schema", Detail: fmt.Sprintf("version %d is newer than this gatehouse supports (%d): upgrade gatehouse", v, SchemaVersion)}
	case v < SchemaVersion:
		return Finding{Check: "schema", OK: true, Detail: fmt.Sprintf("version %d, older than this gatehouse's %d: the next 'gatehouse init' or 'serve' migrates it", v, SchemaVersion)}
	}
	return Finding{Check: "schema", OK: true, Detail: fmt.Sprintf("version %d", v)}
}

// checkRecords decodes every value of bucket name into a fresh record.
func checkRecords(t txn, name []byte, what string, record func() any) Finding {
	if bt, ok := t.(boltTxn); ok && bt.tx.Bucket(name) == nil {
		return Finding{Check: what, Detail: fmt.Sprintf("bucket %q is missing", name)}
	}
	var problems []string
	n, bad := 0, 0
	err := forEach(t, name, func(k, v []byte) error {
		n++
		if v == nil {
			return nil // a nested bucket; none is expected
		}
		if err := json.Unmarshal(v, record()); err != nil {
			if bad++; bad <= maxProblems {
				problems = append(problems, fmt.Sprintf("%s: %v", keyText(name, k), err))
			}
		}
		return nil
	})
	switch {
	case err != nil:
		return Finding{Check: what, Detail: err.Error()}
	case bad > 0:
		return Finding{Check: what, Detail: fmt.Sprintf("%d of %d do not decode: %s", bad, n, joinProblems(problems, bad))}
	}
	return Finding{Check: what, OK: true, Detail: fmt.Sprintf("%d decode", n)}
}

// keyText shows a key as operators know it: audit keys are sequence numbers,
// others are quoted so that binary garbage stays inert.
func keyText(bucket, k []byte) string {
	if string(bucket) == string(bucketAudit) && len(k) == 8 {
		return "#" + strconv.FormatUint(binary.BigEndian.Uint64(k), 10)
	}
	return strconv.Quote(string(k))
}

func joinProblems(problems []string, total int) string {
	s := ""
	for i, p := range problems {
		if i > 0 {
			s += "; "
		}
		s += p
	}
	if total > len(problems) {
		s += fmt.Sprintf("; and %d more", total-len(problems))
	}
	return s
}
