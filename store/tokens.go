package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Token records live in one bucket, "tokens", holding four nested buckets:
// subjects (sub -> TokenSubject), issued (jti -> IssuedToken: what was
// signed, never the token itself), revoked (jti -> RevokedToken, pruned once
// expired) and keys (kid -> TokenKey: our signing key, sealed like the CA
// keys, and the operators' trusted issuer keys). Readers tolerate missing
// buckets: a read-only open of an older store creates none.
var (
	bucketTokens   = []byte("tokens")
	tokensSubjects = []byte("subjects")
	tokensIssued   = []byte("issued")
	tokensRevoked  = []byte("revoked")
	tokensKeys     = []byte("keys")
	tokenBuckets   = [][]byte{tokensSubjects, tokensIssued, tokensRevoked, tokensKeys}
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

// createTokenBuckets is migration 6.
func createTokenBuckets(tx *bolt.Tx) error {
	top, err := tx.CreateBucketIfNotExists(bucketTokens)
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketTokens, err)
	}
	for _, name := range tokenBuckets {
		if _, err := top.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s/%s: %w", bucketTokens, name, err)
		}
	}
	return nil
}

// tokenBucket returns a nested token bucket; nil when the store predates it
// (read-only opens only: a read-write open migrates).
func tokenBucket(tx *bolt.Tx, name []byte) *bolt.Bucket {
	top := tx.Bucket(bucketTokens)
	if top == nil {
		return nil
	}
	return top.Bucket(name)
}

// writableTokenBucket is tokenBucket inside an update, created if missing.
func writableTokenBucket(tx *bolt.Tx, name []byte) (*bolt.Bucket, error) {
	if err := createTokenBuckets(tx); err != nil {
		return nil, err
	}
	return tx.Bucket(bucketTokens).Bucket(name), nil
}

// eachToken decodes every record of a nested token bucket.
func eachToken[T any](tx *bolt.Tx, name []byte, what string, fn func(T)) error {
	b := tokenBucket(tx, name)
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, v []byte) error {
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
	err := s.view(func(tx *bolt.Tx) error {
		return firstErr(
			eachToken(tx, tokensSubjects, "token subject", func(r TokenSubject) { d.Subjects = append(d.Subjects, r) }),
			eachToken(tx, tokensIssued, "issued token", func(r IssuedToken) { d.Issued = append(d.Issued, r) }),
			eachToken(tx, tokensRevoked, "revoked token", func(r RevokedToken) { d.Revoked = append(d.Revoked, r) }),
			eachToken(tx, tokensKeys, "token key", func(r TokenKey) { r.PrivateKey = ""; d.Keys = append(d.Keys, r) }),
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
	err := s.view(func(tx *bolt.Tx) error {
		return eachToken(tx, tokensKeys, "token key", func(r TokenKey) {
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
	err := s.update(func(tx *bolt.Tx) error {
		b, err := writableTokenBucket(tx, tokensKeys)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if b.Get([]byte(k.KID)) != nil {
				return fmt.Errorf("kid %q: %w", k.KID, ErrExists)
			}
			if err := putJSON(b, []byte(k.KID), k); err != nil {
				return err
			}
		}
		return appendAudit(tx, &audit)
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
	err := s.update(func(tx *bolt.Tx) error {
		b, err := writableTokenBucket(tx, tokensKeys)
		if err != nil {
			return err
		}
		if err := eachToken(tx, tokensKeys, "token key", func(r TokenKey) {
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
			if err := b.Delete([]byte(k.KID)); err != nil {
				return err
			}
		}
		audit.Detail = fmt.Sprintf("%s (%d keys)", name, len(gone))
		return appendAudit(tx, &audit)
	})
	if err != nil {
		return nil, fmt.Errorf("untrust token keys %s: %w", name, err)
	}
	return gone, nil
}

// IssueToken records an issued token with audit, creating its subject
// active if new. A revoked subject fails with an error wrapping ErrConflict.
func (s *Store) IssueToken(t IssuedToken, audit AuditRecord) error {
	err := s.update(func(tx *bolt.Tx) error {
		subs, err := writableTokenBucket(tx, tokensSubjects)
		if err != nil {
			return err
		}
		var sub TokenSubject
		if raw := subs.Get([]byte(t.Subject)); raw != nil {
			if err := decode(raw, &sub, "token subject", []byte(t.Subject)); err != nil {
				return err
			}
			if sub.State == StateRevoked {
				return fmt.Errorf("subject %s is revoked: %w", t.Subject, ErrConflict)
			}
		} else {
			sub = TokenSubject{Subject: t.Subject, State: StateActive, CreatedAt: t.IssuedAt}
			if err := putJSON(subs, []byte(t.Subject), sub); err != nil {
				return err
			}
		}
		issued := tx.Bucket(bucketTokens).Bucket(tokensIssued)
		if issued.Get([]byte(t.JTI)) != nil {
			return fmt.Errorf("jti %s: %w", t.JTI, ErrExists)
		}
		if err := putJSON(issued, []byte(t.JTI), t); err != nil {
			return err
		}
		audit.Subject = t.Subject
		return appendAudit(tx, &audit)
	})
	if err != nil {
		return fmt.Errorf("record token for %s: %w", t.Subject, err)
	}
	return nil
}

// TransitionSubject moves a subject from state from to state to, with
// audit (Subject, From and To filled in): a compare-and-swap returning an
// error wrapping ErrConflict when the stored state is not from, ErrNotFound
// for an unknown subject. Lifecycle rules are the caller's (pki.CanTransition).
func (s *Store) TransitionSubject(sub string, from, to State, audit AuditRecord) (TokenSubject, error) {
	var r TokenSubject
	err := s.update(func(tx *bolt.Tx) error {
		b, err := writableTokenBucket(tx, tokensSubjects)
		if err != nil {
			return err
		}
		raw := b.Get([]byte(sub))
		if raw == nil {
			return ErrNotFound
		}
		if err := decode(raw, &r, "token subject", []byte(sub)); err != nil {
			return err
		}
		if r.State != from {
			return fmt.Errorf("state is %s, expected %s: %w", r.State, from, ErrConflict)
		}
		r.State, r.StateChangedAt, r.Reason = to, audit.At, audit.Reason
		if err := putJSON(b, []byte(sub), r); err != nil {
			return err
		}
		audit.Subject, audit.From, audit.To = sub, from, to
		return appendAudit(tx, &audit)
	})
	if err != nil {
		return TokenSubject{}, fmt.Errorf("transition token subject %s from %s to %s: %w", sub, from, to, err)
	}
	return r, nil
}

// RevokeTokenID records a revoked token ID with audit; one already revoked
// is an error wrapping ErrExists.
func (s *Store) RevokeTokenID(r RevokedToken, audit AuditRecord) error {
	err := s.update(func(tx *bolt.Tx) error {
		b, err := writableTokenBucket(tx, tokensRevoked)
		if err != nil {
			return err
		}
		if b.Get([]byte(r.JTI)) != nil {
			return ErrExists
		}
		if err := putJSON(b, []byte(r.JTI), r); err != nil {
			return err
		}
		audit.Subject = r.Subject
		return appendAudit(tx, &audit)
	})
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", r.JTI, err)
	}
	return nil
}

// TouchSubject notes that a subject's token was used at at: the subject is
// created active when new (a trusted issuer's token), FirstSeen set once,
// LastSeen moved forward. It reports whether the subject was created.
func (s *Store) TouchSubject(sub string, at time.Time) (bool, error) {
	created := false
	err := s.update(func(tx *bolt.Tx) error {
		b, err := writableTokenBucket(tx, tokensSubjects)
		if err != nil {
			return err
		}
		var r TokenSubject
		if raw := b.Get([]byte(sub)); raw != nil {
			if err := decode(raw, &r, "token subject", []byte(sub)); err != nil {
				return err
			}
		} else {
			r, created = TokenSubject{Subject: sub, State: StateActive, CreatedAt: at}, true
		}
		if r.FirstSeen.IsZero() {
			r.FirstSeen = at
		}
		if at.After(r.LastSeen) {
			r.LastSeen = at
		}
		return putJSON(b, []byte(sub), r)
	})
	if err != nil {
		return false, fmt.Errorf("note use of token subject %s: %w", sub, err)
	}
	return created, nil
}

// PruneTokens deletes the issued and revoked token records whose token
// expired before now (a revoked jti past its exp can never verify again)
// and returns how many it deleted.
func (s *Store) PruneTokens(now time.Time) (int, error) {
	n := 0
	err := s.update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{tokensIssued, tokensRevoked} {
			b, err := writableTokenBucket(tx, name)
			if err != nil {
				return err
			}
			var old [][]byte
			if err := b.ForEach(func(k, v []byte) error {
				var r struct {
					Expires time.Time `json:"exp"`
				}
				if err := decode(v, &r, "token record", k); err != nil {
					return err
				}
				if r.Expires.Before(now) {
					old = append(old, append([]byte(nil), k...))
				}
				return nil
			}); err != nil {
				return err
			}
			for _, k := range old {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			n += len(old)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune expired tokens: %w", err)
	}
	return n, nil
}

// replaceTokenKey is ReplaceCAKeys' change of the token signing key.
func replaceTokenKey(tx *bolt.Tx, c CAKeyChange) error {
	b, err := writableTokenBucket(tx, tokensKeys)
	if err != nil {
		return err
	}
	raw := b.Get([]byte(c.TokenKID))
	if raw == nil {
		return fmt.Errorf("token key %s: %w", c.TokenKID, ErrNotFound)
	}
	var k TokenKey
	if err := decode(raw, &k, "token key", []byte(c.TokenKID)); err != nil {
		return err
	}
	if k.PrivateKey != c.Old {
		return fmt.Errorf("token key %s: %w", c.TokenKID, ErrConflict)
	}
	k.PrivateKey = c.New
	return putJSON(b, []byte(c.TokenKID), k)
}
