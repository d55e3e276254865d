package store

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MinPrefix is the shortest serial prefix ResolveSerial accepts.
const MinPrefix = 6

// maxCandidates bounds the candidates listed in an AmbiguousError.
const maxCandidates = 10

// CreateCert stores a new certificate record under c.ID and appends audit in
// the same transaction. It returns an error wrapping ErrExists when the ID
// (the issuer's serial) is taken. Empty audit Serial, CertID and CN are
// filled from c.
func (s *Store) CreateCert(c Cert, audit AuditRecord) error {
	return s.CreateCerts([]Cert{c}, []AuditRecord{audit})
}

// CreateCerts is CreateCert for many certificates in one transaction: all
// are stored, each with its audit record (audits[i] for certs[i], filled in
// as CreateCert fills its own), or none is. Loading a fleet this way costs
// one fsync instead of one per record. On etcd one transaction takes at most
// 128 operations (a batch of 10 certificates fits): a larger one may be
// refused whole, never split.
func (s *Store) CreateCerts(certs []Cert, audits []AuditRecord) error {
	if len(audits) != len(certs) {
		return fmt.Errorf("create certificates: %d certificates but %d audit records", len(certs), len(audits))
	}
	for i, c := range certs {
		if c.Serial == "" || c.ID == "" {
			return errors.New("create certificate: empty serial or ID")
		}
		a := &audits[i]
		if a.Serial == "" {
			a.Serial = c.Serial
		}
		if a.CertID == "" {
			a.CertID = c.ID
		}
		if a.CN == "" {
			a.CN = c.CN
		}
	}
	var failed string
	err := s.update(func(t txn) error {
		for i, c := range certs {
			failed = c.ID
			key := []byte(c.ID)
			if raw, err := t.get(bucketCerts, key); err != nil || raw != nil {
				return cmp.Or(err, ErrExists)
			}
			if err := putJSON(t, bucketCerts, key, c); err != nil {
				return err
			}
			if err := putIndex(t, c); err != nil {
				return err
			}
			if err := appendAudit(t, &audits[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errTxnTooLarge) {
		// One atomic batch, so not split: the caller sends smaller ones.
		return fmt.Errorf("create %d certificates at once: %w", len(certs), err)
	}
	if err != nil {
		return fmt.Errorf("create certificate %s: %w", failed, err)
	}
	return nil
}

// GetCert returns the certificate with the exact ID, or an error wrapping ErrNotFound.
func (s *Store) GetCert(id string) (Cert, error) {
	var c Cert
	err := s.view(func(t txn) error {
		raw, err := t.get(bucketCerts, []byte(id))
		if err != nil || raw == nil {
			return cmp.Or(err, ErrNotFound)
		}
		return decode(raw, &c, "certificate", []byte(id))
	})
	if err != nil {
		return Cert{}, fmt.Errorf("get certificate %s: %w", id, err)
	}
	return c, nil
}

// ResolveSerial turns what an operator typed into a certificate ID: an exact
// ID, an exact serial, or a unique prefix of at least MinPrefix hex digits of
// a serial. It is the one place that parses serial text: any case, with or
// without the colons of openssl's -text output ("04:67:3C"), and an
// odd-length serial also matches with the leading zero its old printing
// dropped ("4673c" finds "04673c..."). A serial that two CAs issued, or a
// prefix of several, yields an *AmbiguousError listing up to 10 candidate IDs
// (each of which resolves); none an error wrapping ErrNotFound.
func (s *Store) ResolveSerial(text string) (string, error) {
	p := strings.ToLower(strings.Map(func(r rune) rune {
		if r == ':' || r == ' ' {
			return -1
		}
		return r
	}, strings.TrimSpace(text)))
	serial, issuer, isID := strings.Cut(p, "/")
	if serial == "" || strings.Trim(serial, "0123456789abcdef") != "" || strings.Trim(issuer, "0123456789abcdef") != "" {
		return "", fmt.Errorf("serial %q is not hexadecimal", text)
	}
	forms := []string{serial}
	if len(serial)%2 == 1 {
		forms = append(forms, "0"+serial)
	}
	var exact, matches []string
	err := s.view(func(t txn) error {
		if isID {
			raw, err := t.get(bucketCerts, []byte(p))
			if raw != nil {
				exact = []string{p}
			}
			return err
		}
		for _, f := range forms {
			// The IDs of serial f itself sort first ("/" sorts before hex
			// digits), then the longer serials f prefixes.
			err := t.scan(bucketCerts, []byte(f), false, func(k, _ []byte) (bool, error) {
				if !bytes.HasPrefix(k, []byte(f)) {
					return false, nil
				}
				if serialOfID(string(k)) == f {
					exact = append(exact, string(k))
					return true, nil
				}
				if len(exact) > 0 || len(serial) < MinPrefix || len(matches) > maxCandidates {
					return false, nil
				}
				matches = append(matches, string(k))
				return true, nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if len(exact) > 0 {
		matches = exact // an exact serial wins over longer serials it prefixes
	}
	switch {
	case err != nil:
		return "", fmt.Errorf("resolve serial %s: %w", text, err)
	case isID && len(matches) == 0:
		return "", fmt.Errorf("no certificate with ID %s: %w", text, ErrNotFound)
	case len(matches) == 0 && len(serial) < MinPrefix:
		return "", fmt.Errorf("serial prefix %q is too short: give at least %d hex characters", text, MinPrefix)
	case len(matches) == 0:
		return "", fmt.Errorf("no certificate with serial %s: %w", text, ErrNotFound)
	case len(matches) > 1:
		if len(matches) > maxCandidates {
			matches = append(matches[:maxCandidates], "...")
		}
		return "", &AmbiguousError{Prefix: text, Candidates: matches}
	}
	return matches[0], nil
}

// certHead is the part of a record the ListCerts filters need; decoding only it
// skips allocating the rest of records that do not match.
type certHead struct {
	CN    string `json:"cn"`
	State State  `json:"state"`
}

func (q CertQuery) match(key, raw []byte) (bool, error) {
	if q.State == "" && q.CNPrefix == "" {
		return true, nil
	}
	var h certHead
	if err := decode(raw, &h, "certificate", key); err != nil {
		return false, err
	}
	return (q.State == "" || h.State == q.State) && strings.HasPrefix(h.CN, q.CNPrefix), nil
}

// ListCerts returns certificates ordered by ID (serial, then issuer) that match q, at most
// q.Limit of them, and the cursor for the next page: pass it as q.After. The
// cursor is "" when no further match exists.
func (s *Store) ListCerts(q CertQuery) ([]Cert, string, error) {
	var (
		out  []Cert
		next string
	)
	var from []byte
	if q.After != "" {
		from = []byte(q.After)
	}
	if q.Limit > 0 {
		out = make([]Cert, 0, q.Limit)
	}
	var scratch []byte
	err := s.view(func(t txn) error {
		return t.scan(bucketCerts, from, false, func(k, v []byte) (bool, error) {
			if string(k) == q.After {
				return true, nil
			}
			ok, err := q.match(k, v)
			if err != nil || !ok {
				return err == nil, err
			}
			if q.Limit > 0 && len(out) == q.Limit {
				next = out[len(out)-1].ID
				return false, nil
			}
			if q.NoPEM {
				scratch = cutPEM(scratch[:0], v)
				v = scratch
			}
			var cert Cert
			if err := decode(v, &cert, "certificate", k); err != nil {
				return false, err
			}
			if q.NoPEM {
				cert.CertPEM = ""
			}
			out = append(out, cert)
			return true, nil
		})
	})
	if err != nil {
		return nil, "", fmt.Errorf("list certificates: %w", err)
	}
	return out, next, nil
}

// Transition moves a certificate from state from to state to in one
// transaction, appending audit (Serial, CN, From and To filled in). It is a
// compare-and-swap: if the stored state is not from, it returns an error
// wrapping ErrConflict naming the current state. Lifecycle rules are not
// checked here; package pki owns them. The record returned carries the
// transaction's Revision.
func (s *Store) Transition(id string, from, to State, audit AuditRecord) (Cert, error) {
	if audit.At.IsZero() {
		audit.At = time.Now()
	}
	var c Cert
	var last txn // the attempt that committed
	err := s.update(func(t txn) error {
		c, last = Cert{}, t
		raw, err := t.get(bucketCerts, []byte(id))
		if err != nil || raw == nil {
			return cmp.Or(err, ErrNotFound)
		}
		if err := decode(raw, &c, "certificate", []byte(id)); err != nil {
			return err
		}
		if c.State != from {
			return fmt.Errorf("state is %s, expected %s: %w", c.State, from, ErrConflict)
		}
		c.State = to
		c.StateChangedAt = audit.At
		c.Reason = audit.Reason
		if to == StateActive && c.FirstSeen.IsZero() {
			c.FirstSeen = audit.At
			c.LastSeen = audit.At
		}
		if err := putJSON(t, bucketCerts, []byte(id), c); err != nil {
			return err
		}
		if err := putIndex(t, c); err != nil {
			return err
		}
		audit.Serial, audit.CertID, audit.CN, audit.From, audit.To = c.Serial, id, c.CN, from, to
		return appendAudit(t, &audit)
	})
	if err != nil {
		return Cert{}, fmt.Errorf("transition certificate %s from %s to %s: %w", id, from, to, err)
	}
	c.Revision = commitRevision(last)
	return c, nil
}

// CertState is the part of a certificate record that start-up and the
// enforcement caches need, as the certificate index holds it.
type CertState struct {
	ID          string    `json:"id"`
	Serial      string    `json:"serial"`
	State       State     `json:"state"`
	NotAfter    time.Time `json:"not_after"`
	CN          string    `json:"cn"`
	Issuer      string    `json:"issuer"` // issuer common name
	Fingerprint string    `json:"fingerprint"`
}

// States returns the index entry of every certificate, in ID order: EachState,
// collected.
func (s *Store) States() ([]CertState, error) {
	var out []CertState
	err := s.EachState(func(cs CertState) error {
		out = append(out, cs)
		return nil
	})
	return out, err
}

// EachState calls fn with the index entry of every certificate, in ID order,
// from one read transaction, stopping at fn's first error. It reads the
// compact certificate index, never the records, so loading the handshake
// snapshot at start does not depend on their size, and it holds no list.
// fn must not call the store.
func (s *Store) EachState(fn func(CertState) error) error {
	if err := s.view(func(t txn) error { return readIndex(t, fn) }); err != nil {
		return fmt.Errorf("read certificate states: %w", err)
	}
	return nil
}

// CountCerts returns how many certificates the store holds. It counts the
// certificate index's keys: no record or entry is decoded.
func (s *Store) CountCerts() (int, error) {
	n := 0
	err := s.view(func(t txn) error {
		n = 0
		return forEach(t, bucketCertIndex, func(_, _ []byte) error { n++; return nil })
	})
	if err != nil {
		return 0, fmt.Errorf("count certificates: %w", err)
	}
	return n, nil
}
