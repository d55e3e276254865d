package store

import (
	"fmt"
	"sort"
)

// caRecord is the stored form of a CA: CA.KeyPEM is hidden from JSON so that
// it never leaks to clients, so the store serialises it explicitly.
type caRecord struct {
	CA
	Key string `json:"key_pem,omitempty"`
}

var roleOrder = map[CARole]int{RoleRoot: 0, RoleIssuing: 1, RoleTrusted: 2}

// PutCA stores a new CA keyed by its ID and appends audit in the same
// transaction. It returns an error wrapping ErrExists if the ID is present.
func (s *Store) PutCA(ca CA, audit AuditRecord) error {
	return s.PutCAs([]CA{ca}, audit)
}

// PutCAs stores new CAs (an imported issuer and its root) and appends audit,
// all in one transaction: every one is stored or none. It returns an error
// wrapping ErrExists if an ID is present, or for a built-in root or issuing
// CA (no Name) when one of that role is stored: nodes of a cluster starting
// together on an empty store each create one, and only the first may stay.
func (s *Store) PutCAs(cas []CA, audit AuditRecord) error {
	err := s.update(func(t txn) error {
		for _, ca := range cas {
			if ca.ID == "" {
				return fmt.Errorf("CA %q: empty ID", ca.Subject)
			}
			raw, err := t.get(bucketCA, []byte(ca.ID))
			if err != nil {
				return err
			}
			if raw != nil {
				return fmt.Errorf("CA %s (%s): %w", ca.Subject, ca.ID, ErrExists)
			}
			if builtIn(ca) {
				if err := noBuiltIn(t, ca.Role); err != nil {
					return err
				}
			}
			if err := putJSON(t, bucketCA, []byte(ca.ID), caRecord{CA: ca, Key: ca.KeyPEM}); err != nil {
				return err
			}
		}
		return appendAudit(t, &audit)
	})
	if err != nil {
		return fmt.Errorf("put CA: %w", err)
	}
	return nil
}

// builtIn reports whether ca is Gatehouse's own root or issuing CA.
func builtIn(ca CA) bool {
	return ca.Name == "" && (ca.Role == RoleRoot || ca.Role == RoleIssuing)
}

// noBuiltIn refuses with ErrExists when a built-in CA of role is stored.
func noBuiltIn(t txn, role CARole) error {
	return forEach(t, bucketCA, func(k, v []byte) error {
		var r caRecord
		if err := decode(v, &r, "CA", k); err != nil {
			return err
		}
		if r.Role == role && builtIn(r.CA) {
			return fmt.Errorf("built-in %s CA (%s): %w", role, r.ID, ErrExists)
		}
		return nil
	})
}

// ListCAs returns every CA including KeyPEM, ordered root, issuing, trusted,
// and by AddedAt within a role.
func (s *Store) ListCAs() ([]CA, error) {
	var out []CA
	err := s.view(func(t txn) error {
		return forEach(t, bucketCA, func(k, v []byte) error {
			var r caRecord
			if err := decode(v, &r, "CA", k); err != nil {
				return err
			}
			r.CA.KeyPEM = r.Key
			out = append(out, r.CA)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list CAs: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if ri, rj := roleOrder[out[i].Role], roleOrder[out[j].Role]; ri != rj {
			return ri < rj
		}
		return out[i].AddedAt.Before(out[j].AddedAt)
	})
	return out, nil
}

// Settings returns the persisted settings; zero Settings when none were saved.
func (s *Store) Settings() (Settings, error) {
	var st Settings
	err := s.view(func(t txn) error {
		raw, err := t.get(bucketSettings, keySettings)
		if err != nil || raw == nil {
			return err
		}
		return decode(raw, &st, "settings", keySettings)
	})
	if err != nil {
		return Settings{}, fmt.Errorf("read settings: %w", err)
	}
	return st, nil
}

// UpdateSettings reads the settings, lets fn change them and writes them back
// with audit, all in one transaction. fn runs inside the write transaction: it
// must be quick and must not call the store. An error from fn aborts the update.
func (s *Store) UpdateSettings(fn func(*Settings) error, audit AuditRecord) (Settings, error) {
	var st Settings
	err := s.update(func(t txn) error {
		st = Settings{}
		raw, err := t.get(bucketSettings, keySettings)
		if err != nil {
			return err
		}
		if raw != nil {
			if err := decode(raw, &st, "settings", keySettings); err != nil {
				return err
			}
		}
		if err := fn(&st); err != nil {
			return err
		}
		if err := putJSON(t, bucketSettings, keySettings, st); err != nil {
			return err
		}
		return appendAudit(t, &audit)
	})
	if err != nil {
		return Settings{}, fmt.Errorf("update settings: %w", err)
	}
	return st, nil
}
