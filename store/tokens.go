package store

import (
	"fmt"
	"time"
)

// Token records live in four buckets: token_subjects (sub -> TokenSubject),
// token_issued (jti -> IssuedToken: what was signed, never the token itself),
// token_revoked (jti -> RevokedToken, pruned once expired) and token_keys
// (kid -> TokenKey: our signing key, sealed like the CA keys, and the
// operators' trusted issuer keys). Flat buckets, so that both engines hold
// them alike; a write creates the bucket it needs and readers tolerate a
// missing one (a read-only open of an older store creates none).
var (
	tokensSubjects = []byte("token_subjects")
	tokensIssued   = []byte("token_issued")
	tokensRevoked  = []byte("token_revoked")
	tokensKeys     = []byte("token_keys")
)

// TokenSubject is the lifecycle record of a token subject (the sub claim),
// the JWT counterpart of a certificate: active, suspended or revoked (final).
// It is created active when a token is issued for it or when a token from a
// trusted issuer first connects.
type TokenSubject struct {
	Subject        string    `json:"sub"`
	State          State     `json:"state"`
	CreatedAt      time.Time `json:"created_at"`
	FirstSeen      time.Time `json:"first_seen,omitzero"`
	LastSeen       time.Time `json:"last_seen,omitzero"`
	StateChangedAt time.Time `json:"state_changed_at,omitzero"`
	Reason         string    `json:"reason,omitempty"`
	// Revision is the store revision that wrote the record, as
	// TransitionSubject and DecodeTokenSubject return it (see
	// Cert.Revision); 0 from the other reads and on a store file, and not
	// part of the record.
	Revision int64 `json:"-"`
}

// IssuedToken describes a token Gatehouse signed. The token is not kept.
type IssuedToken struct {
	JTI      string    `json:"jti"`
	Subject  string    `json:"sub"`
	KeyID    string    `json:"kid"`
	Audience []string  `json:"aud"`
	IssuedAt time.Time `json:"iat"`
	Expires  time.Time `json:"exp"`
}

// RevokedToken is a revoked token ID, kept until the token expires.
type RevokedToken struct {
	JTI       string    `json:"jti"`
	Subject   string    `json:"sub,omitempty"`
	Expires   time.Time `json:"exp"`
	RevokedAt time.Time `json:"revoked_at"`
}

// TokenKey is a key that signs tokens: Gatehouse's own (Own, with its
// private key sealed as the CA keys are) or a public key of an operator's
// issuer, trusted under Name.
type TokenKey struct {
	KID        string    `json:"kid"`
	Name       string    `json:"name"`
	Alg        string    `json:"alg"`
	PublicPEM  string    `json:"public_pem"`
	Own        bool      `json:"own,omitempty"`
	PrivateKey string    `json:"private_key,omitempty"` // Own only; cleared in TokenData
	AddedAt    time.Time `json:"added_at"`
}

// TokenData is every token record, read in one transaction, private keys
// cleared.
type TokenData struct {
	Subjects []TokenSubject `json:"subjects"`
	Issued   []IssuedToken  `json:"issued"`
	Revoked  []RevokedToken `json:"revoked"`
	Keys     []TokenKey     `json:"keys"`
}

// tokenRecords is migration 6. Its buckets are created by their first
// write; the version step is what matters: a build that does not know token
// records must not open a store that holds them.
func tokenRecords(txn) error { return nil }

// eachToken decodes every record of a token bucket.
func eachToken[T any](t txn, name []byte, what string, fn func(T)) error {
	return forEach(t, name, func(k, v []byte) error {
		var r T
		if err := decode(v, &r, what, k); err != nil {
			return err
		}
		fn(r)
		return nil
	})
}

// TokenData reads every token record.
func (s *Store) TokenData() (TokenData, error) {
	var d TokenData
	err := s.view(func(t txn) error {
		return firstErr(
			eachToken(t, tokensSubjects, "token subject", func(r TokenSubject) { d.Subjects = append(d.Subjects, r) }),
			eachToken(t, tokensIssued, "issued token", func(r IssuedToken) { d.Issued = append(d.Issued, r) }),
			eachToken(t, tokensRevoked, "revoked token", func(r RevokedToken) { d.Revoked = append(d.Revoked, r) }),
			eachToken(t, tokensKeys, "token key", func(r TokenKey) { r.PrivateKey = ""; d.Keys = append(d.Keys, r) }),
		)
	})
	if err != nil {
		return TokenData{}, fmt.Errorf("read tokens: %w", err)
	}
	return d, nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// OwnTokenKey returns Gatehouse's signing key with its (sealed) private
// key, or an error wrapping ErrNotFound before the first token is issued.
func (s *Store) OwnTokenKey() (TokenKey, error) {
	var out TokenKey
	found := false
	err := s.view(func(t txn) error {
		return eachToken(t, tokensKeys, "token key", func(r TokenKey) {
			if r.Own && !found {
				out, found = r, true
			}
		})
	})
	if err == nil && !found {
		err = ErrNotFound
	}
	if err != nil {
		return TokenKey{}, fmt.Errorf("read token signing key: %w", err)
	}
	return out, nil
}

// PutTokenKeys stores keys with audit in one transaction; a kid already
// stored fails the whole call with an error wrapping ErrExists.
func (s *Store) PutTokenKeys(keys []TokenKey, audit AuditRecord) error {
	err := s.update(func(t txn) error {
		for _, k := range keys {
			raw, err := t.get(tokensKeys, []byte(k.KID))
			if err != nil {
				return err
			}
			if raw != nil {
				return fmt.Errorf("kid %q: %w", k.KID, ErrExists)
			}
			if err := putJSON(t, tokensKeys, []byte(k.KID), k); err != nil {
				return err
			}
		}
		return appendAudit(t, &audit)
	})
	if err != nil {
		return fmt.Errorf("store token keys: %w", err)
	}
	return nil
}

// DeleteTokenKeys removes the trusted keys named name (never our own) with
// audit, and returns them; none so named is an error wrapping ErrNotFound.
func (s *Store) DeleteTokenKeys(name string, audit AuditRecord) ([]TokenKey, error) {
	var gone []TokenKey
	err := s.update(func(t txn) error {
		gone = nil
		if err := eachToken(t, tokensKeys, "token key", func(r TokenKey) {
			if r.Name == name && !r.Own {
				gone = append(gone, r)
			}
		}); err != nil {
			return err
		}
		if len(gone) == 0 {
			return ErrNotFound
		}
		for _, k := range gone {
			if err := t.del(tokensKeys, []byte(k.KID)); err != nil {
				return err
			}
		}
		audit.Detail = fmt.Sprintf("%s (%d keys)", name, len(gone))
		return appendAudit(t, &audit)
	})
	if err != nil {
		return nil, fmt.Errorf("untrust token keys %s: %w", name, err)
	}
	return gone, nil
}

// getToken decodes the record under key in a token bucket into v and
// reports whether there was one.
func getToken(t txn, bucket []byte, key string, v any, what string) (bool, error) {
	raw, err := t.get(bucket, []byte(key))
	if err != nil || raw == nil {
		return false, err
	}
	return true, decode(raw, v, what, []byte(key))
}

// IssueToken records an issued token with audit, creating its subject
// active if new. A revoked subject fails with an error wrapping ErrConflict.
func (s *Store) IssueToken(it IssuedToken, audit AuditRecord) error {
	err := s.update(func(t txn) error {
		var sub TokenSubject
		found, err := getToken(t, tokensSubjects, it.Subject, &sub, "token subject")
		switch {
		case err != nil:
			return err
		case found && sub.State == StateRevoked:
			return fmt.Errorf("subject %s is revoked: %w", it.Subject, ErrConflict)
		case !found:
			sub = TokenSubject{Subject: it.Subject, State: StateActive, CreatedAt: it.IssuedAt}
			if err := putJSON(t, tokensSubjects, []byte(it.Subject), sub); err != nil {
				return err
			}
		}
		raw, err := t.get(tokensIssued, []byte(it.JTI))
		if err != nil {
			return err
		}
		if raw != nil {
			return fmt.Errorf("jti %s: %w", it.JTI, ErrExists)
		}
		if err := putJSON(t, tokensIssued, []byte(it.JTI), it); err != nil {
			return err
		}
		a := audit
		a.Subject = it.Subject
		return appendAudit(t, &a)
	})
	if err != nil {
		return fmt.Errorf("record token for %s: %w", it.Subject, err)
	}
	return nil
}

// TransitionSubject moves a subject from state from to state to, with
// audit (Subject, From and To filled in): a compare-and-swap returning an
// error wrapping ErrConflict when the stored state is not from, ErrNotFound
// for an unknown subject. Lifecycle rules are the caller's (pki.CanTransition).
// The record returned carries the transaction's Revision.
func (s *Store) TransitionSubject(sub string, from, to State, audit AuditRecord) (TokenSubject, error) {
	var r TokenSubject
	var last txn // the attempt that committed
	err := s.update(func(t txn) error {
		r, last = TokenSubject{}, t
		found, err := getToken(t, tokensSubjects, sub, &r, "token subject")
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		if r.State != from {
			return fmt.Errorf("state is %s, expected %s: %w", r.State, from, ErrConflict)
		}
		r.State, r.StateChangedAt, r.Reason = to, audit.At, audit.Reason
		if err := putJSON(t, tokensSubjects, []byte(sub), r); err != nil {
			return err
		}
		a := audit
		a.Subject, a.From, a.To = sub, from, to
		return appendAudit(t, &a)
	})
	if err != nil {
		return TokenSubject{}, fmt.Errorf("transition token subject %s from %s to %s: %w", sub, from, to, err)
	}
	r.Revision = commitRevision(last)
	return r, nil
}

// RevokeTokenID records a revoked token ID with audit; one already revoked
// is an error wrapping ErrExists.
func (s *Store) RevokeTokenID(r RevokedToken, audit AuditRecord) error {
	err := s.update(func(t txn) error {
		raw, err := t.get(tokensRevoked, []byte(r.JTI))
		if err != nil {
			return err
		}
		if raw != nil {
			return ErrExists
		}
		if err := putJSON(t, tokensRevoked, []byte(r.JTI), r); err != nil {
			return err
		}
		a := audit
		a.Subject = r.Subject
		return appendAudit(t, &a)
	})
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", r.JTI, err)
	}
	return nil
}

// TouchSubject notes that a subject's token was used at at: the subject is
// created active when new (a trusted issuer's token), FirstSeen set once,
// LastSeen moved forward. It writes that one record.
func (s *Store) TouchSubject(sub string, at time.Time) error {
	err := s.update(func(t txn) error {
		var r TokenSubject
		found, err := getToken(t, tokensSubjects, sub, &r, "token subject")
		if err != nil {
			return err
		}
		if !found {
			r = TokenSubject{Subject: sub, State: StateActive, CreatedAt: at}
		}
		if r.FirstSeen.IsZero() {
			r.FirstSeen = at
		}
		if at.After(r.LastSeen) {
			r.LastSeen = at
		}
		return putJSON(t, tokensSubjects, []byte(sub), r)
	})
	if err != nil {
		return fmt.Errorf("note use of token subject %s: %w", sub, err)
	}
	return nil
}

// PruneTokens deletes the issued and revoked token records whose token
// expired before now (a revoked jti past its exp can never verify again)
// and returns how many it deleted. On an engine that bounds a transaction's
// writes (etcd) it takes as many updates as the bound needs, each complete;
// after an error the count says how many were deleted before it.
func (s *Store) PruneTokens(now time.Time) (int, error) {
	limit := s.eng.maxWrites() // 0: everything in one update
	total := 0
	for {
		n, more, err := pruneTokens(s, now, limit)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune expired tokens (%d pruned): %w", total, err)
		}
		if !more {
			return total, nil
		}
	}
}

// pruneTokens deletes, in one update, up to limit (0: all) expired token
// records; more says whether some were left for another update.
func pruneTokens(s *Store, now time.Time, limit int) (n int, more bool, err error) {
	err = s.update(func(t txn) error {
		n, more = 0, false
		for _, name := range [][]byte{tokensIssued, tokensRevoked} {
			var old [][]byte
			if err := t.scan(name, nil, false, func(k, v []byte) (bool, error) {
				var r struct {
					Expires time.Time `json:"exp"`
				}
				if err := decode(v, &r, "token record", k); err != nil {
					return false, err
				}
				if !r.Expires.Before(now) {
					return true, nil
				}
				if limit > 0 && n+len(old) == limit {
					more = true
					return false, nil
				}
				old = append(old, append([]byte(nil), k...))
				return true, nil
			}); err != nil {
				return err
			}
			for _, k := range old {
				if err := t.del(name, k); err != nil {
					return err
				}
			}
			n += len(old)
			if more {
				return nil
			}
		}
		return nil
	})
	return n, more, err
}

// replaceTokenKey is ReplaceCAKeys' change of the token signing key.
func replaceTokenKey(t txn, c CAKeyChange) error {
	var k TokenKey
	found, err := getToken(t, tokensKeys, c.TokenKID, &k, "token key")
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("token key %s: %w", c.TokenKID, ErrNotFound)
	}
	if k.PrivateKey != c.Old {
		return fmt.Errorf("token key %s: %w", c.TokenKID, ErrConflict)
	}
	k.PrivateKey = c.New
	return putJSON(t, tokensKeys, []byte(c.TokenKID), k)
}
