package pki

import (
	"cmp"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/pki/token"
	"github.com/gatehouse/gatehouse/store"
)

// DefaultTokenAudience is the aud tokens must carry unless the broker is
// configured with another (serve --jwt-audience).
const DefaultTokenAudience = "gatehouse"

// Token lifecycle refusal reasons (Allowed). A suspended or revoked
// subject is refused with ReasonSuspended or ReasonRevoked, as certificates.
const ReasonTokenRevoked = "token revoked"

// ErrTokenRequest means a token subject, issuer name or lifetime is not
// acceptable: the caller's input, not the store's state.
var ErrTokenRequest = errors.New("invalid token request")

// ownTokenKeyName names Gatehouse's own signing key among the token keys.
const ownTokenKeyName = "gatehouse"

// MaxTokenTTL bounds the lifetime of a token Gatehouse issues: a bearer
// credential that cannot be recalled by its holder should not outlive a
// year (revocation and suspension still end it sooner).
const MaxTokenTTL = 366 * 24 * time.Hour

// Tokens is the JWT side of the Authority: token subjects with the
// certificate lifecycle (active, suspended, revoked), revoked token IDs,
// Gatehouse's ES256 signing key (sealed like the CA keys) and the trusted
// keys of operators' issuers. Reads (Verify, Allowed) are lock-free on an
// immutable snapshot swapped after every committed change; changes are
// serialised by mu.
type Tokens struct {
	a        *Authority
	mu       sync.Mutex
	audience string // guarded by mu; the snapshot's verifier carries it
	snap     atomic.Pointer[tokenSnap]
}

// tokenSnap is what Verify and Allowed read.
type tokenSnap struct {
	verifier *token.Verifier
	// subjects are the subjects stored at the last reload, with the
	// changes applied since (Transition, ApplySubject). One created since at
	// its first use (Touch) is not in it until the next reload: it is
	// active, as a subject never seen is taken to be.
	subjects map[string]subjectEntry
	revoked  map[string]bool
}

// subjectEntry is a subject's state in the snapshot.
type subjectEntry struct {
	state store.State
	// rev is the store revision that wrote the state
	// (store.TokenSubject.Revision): ApplySubject ignores a record older
	// than it. 0 when unknown (loaded from the store, or a store file).
	rev int64
}

// subject returns sub's state in the snapshot (active when it holds none)
// and its entry.
func (s *tokenSnap) subject(sub string) (store.State, subjectEntry, bool) {
	e, ok := s.subjects[sub]
	if !ok {
		return store.StateActive, e, false
	}
	return e.state, e, true
}

// Tokens returns the Authority's token side.
func (a *Authority) Tokens() *Tokens { return a.tokens }

// reload rebuilds the snapshot from the store; the caller holds mu (or is Init).
func (t *Tokens) reload() error {
	d, err := t.a.st.TokenData()
	if err != nil {
		return err
	}
	keys := make([]token.Key, 0, len(d.Keys))
	for _, k := range d.Keys {
		pub, err := token.DecodePublic(k.PublicPEM)
		if err != nil {
			return fmt.Errorf("token key %s: %w", k.KID, err)
		}
		keys = append(keys, token.Key{KID: k.KID, Alg: k.Alg, Public: pub})
	}
	s := &tokenSnap{
		verifier: token.NewVerifier(t.audience, keys, t.a.opts.now),
		subjects: make(map[string]subjectEntry, len(d.Subjects)),
		revoked:  make(map[string]bool, len(d.Revoked)),
	}
	var old map[string]subjectEntry // nil in Init
	if cur := t.snap.Load(); cur != nil {
		old = cur.subjects
	}
	for _, sub := range d.Subjects {
		// The records read carry no revision: an entry keeps the one it
		// had, so that the watch's older records stay ignored (as
		// Authority.RefreshAll does for certificates).
		s.subjects[sub.Subject] = subjectEntry{state: sub.State, rev: old[sub.Subject].rev}
	}
	for _, r := range d.Revoked {
		s.revoked[r.JTI] = true
	}
	t.snap.Store(s)
	return nil
}

// Refresh reads the token records again, after another process (a cluster
// node) changed the token keys in the shared store, or after a watch that
// fell behind. A subject's or a jti's change is applied by value
// (ApplySubject, ApplyRevoked): no reload.
func (t *Tokens) Refresh() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.reload()
}

// SetAudience sets the aud tokens must carry (empty: DefaultTokenAudience).
func (t *Tokens) SetAudience(aud string) error {
	if aud == "" {
		aud = DefaultTokenAudience
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.audience = aud
	return t.reload()
}

// Audience is the aud tokens must carry.
func (t *Tokens) Audience() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.audience
}

// Verify checks a token's signature, algorithm, key id, times and audience
// (see package token). It does not judge the subject: see Allowed.
func (t *Tokens) Verify(raw string) (token.Claims, error) {
	return t.snap.Load().verifier.Verify(raw)
}

// Allowed reports whether a verified token's subject and jti may hold a
// session now: a lock-free read of the snapshot. A subject never seen is
// allowed (an operator's issuer vouches for it); it is recorded at first use.
func (t *Tokens) Allowed(sub, jti string) error {
	s := t.snap.Load()
	if jti != "" && s.revoked[jti] {
		return &TokenRefusal{Why: ReasonTokenRevoked, Subject: sub}
	}
	switch st, _, _ := s.subject(sub); st {
	case store.StateSuspended:
		return &TokenRefusal{Why: ReasonSuspended, Subject: sub}
	case store.StateRevoked:
		return &TokenRefusal{Why: ReasonRevoked, Subject: sub}
	}
	return nil
}

// TokenRefusal is the error Allowed returns: Why is ReasonTokenRevoked,
// ReasonSuspended or ReasonRevoked.
type TokenRefusal struct {
	Why     string
	Subject string
}

// Reason returns the operator-readable reason.
func (r *TokenRefusal) Reason() string { return r.Why }

// Error says whose token was refused and why.
func (r *TokenRefusal) Error() string { return "token of " + r.Subject + " refused: " + r.Why }

// TokenRequest asks for a token signed by Gatehouse.
type TokenRequest struct {
	Subject  string
	TTL      time.Duration
	Audience string // "" takes the configured audience
}

// IssuedToken is a signed token, returned once; only its record is kept.
type IssuedToken struct {
	Token  string            `json:"token"`
	Record store.IssuedToken `json:"record"`
}

// Issue signs a token for req.Subject with Gatehouse's ES256 key, created
// (and sealed when the CA keys are) on first use, and records its jti, sub
// and exp with an audit record naming actor. A revoked subject is refused.
func (t *Tokens) Issue(req TokenRequest, actor string) (IssuedToken, error) {
	if err := validSubject(req.Subject); err != nil {
		return IssuedToken{}, err
	}
	if req.TTL <= 0 || req.TTL > MaxTokenTTL {
		return IssuedToken{}, fmt.Errorf("%w: ttl %s: want more than 0 and at most 366d", ErrTokenRequest, req.TTL)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if st, _, _ := t.snap.Load().subject(req.Subject); st == store.StateRevoked {
		return IssuedToken{}, fmt.Errorf("issue token for %s: %w: the subject is revoked (final)", req.Subject, ErrTransition)
	}
	key, kid, err := t.signingKey(actor)
	if err != nil {
		return IssuedToken{}, err
	}
	aud := req.Audience
	if aud == "" {
		aud = t.audience
	}
	jti, err := randomID()
	if err != nil {
		return IssuedToken{}, err
	}
	now := t.a.opts.now().Truncate(time.Second)
	rec := store.IssuedToken{JTI: jti, Subject: req.Subject, KeyID: kid, Audience: []string{aud}, IssuedAt: now, Expires: now.Add(req.TTL)}
	raw, err := token.Sign(key, kid, token.Claims{Subject: rec.Subject, ID: jti, Audience: rec.Audience, Expires: rec.Expires, IssuedAt: now})
	if err != nil {
		return IssuedToken{}, err
	}
	audit := store.AuditRecord{At: now, Actor: actor, Action: "token.create",
		Detail: fmt.Sprintf("jti %s, aud %s, expires %s", jti, aud, rec.Expires.UTC().Format(time.RFC3339))}
	if err := t.a.st.IssueToken(rec, audit); err != nil {
		return IssuedToken{}, err
	}
	if err := t.reload(); err != nil {
		return IssuedToken{}, err
	}
	return IssuedToken{Token: raw, Record: rec}, nil
}

// signingKey returns Gatehouse's token key, creating it on first use; the
// caller holds mu.
func (t *Tokens) signingKey(actor string) (*ecdsa.PrivateKey, string, error) {
	rec, err := t.a.st.OwnTokenKey()
	if errors.Is(err, store.ErrNotFound) {
		return t.createSigningKey(actor)
	}
	if err != nil {
		return nil, "", err
	}
	der, err := t.a.keyDER(tokenKeySealID(rec.KID), rec.PrivateKey, "token signing key "+rec.KID)
	if err != nil {
		return nil, "", err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, "", fmt.Errorf("token signing key %s: %w", rec.KID, err)
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, "", fmt.Errorf("token signing key %s: %T is not an ES256 key", rec.KID, k)
	}
	return ec, rec.KID, nil
}

func (t *Tokens) createSigningKey(actor string) (*ecdsa.PrivateKey, string, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("create token signing key: %w", err)
	}
	kid, err := token.KeyID(ownTokenKeyName, &k.PublicKey)
	if err != nil {
		return nil, "", err
	}
	pub, err := token.EncodePublic(&k.PublicKey)
	if err != nil {
		return nil, "", err
	}
	sealed, err := t.a.encodeCAKey(tokenKeySealID(kid), k)
	if err != nil {
		return nil, "", err
	}
	now := t.a.opts.now()
	rec := store.TokenKey{KID: kid, Name: ownTokenKeyName, Alg: "ES256", PublicPEM: pub, Own: true, PrivateKey: sealed, AddedAt: now}
	audit := store.AuditRecord{At: now, Actor: actor, Action: "token.key.create", Detail: kid + " (ES256)"}
	if err := t.a.st.PutTokenKeys([]store.TokenKey{rec}, audit); err != nil {
		return nil, "", err
	}
	return k, kid, nil
}

// tokenKeySealID is the ID a token key is sealed for (the GCM additional
// data), so a sealed token key moved into a CA record does not open.
func tokenKeySealID(kid string) string { return "token-key:" + kid }

// Trust adds the public keys of an operator's token issuer (a JWKS document
// or PEM public keys, see token.ParseKeys) under name, audited.
func (t *Tokens) Trust(name string, data []byte, actor string) ([]store.TokenKey, error) {
	if err := validSubject(name); err != nil {
		return nil, fmt.Errorf("issuer name: %w", err)
	}
	if name == ownTokenKeyName {
		return nil, fmt.Errorf("%w: the name %q is Gatehouse's own key", ErrTokenRequest, name)
	}
	keys, err := token.ParseKeys(data, name)
	if err != nil {
		return nil, fmt.Errorf("%w: trust token keys %s: %v", ErrMalformed, name, err)
	}
	now := t.a.opts.now()
	recs := make([]store.TokenKey, 0, len(keys))
	var kids []string
	for _, k := range keys {
		pub, err := token.EncodePublic(k.Public)
		if err != nil {
			return nil, err
		}
		recs = append(recs, store.TokenKey{KID: k.KID, Name: name, Alg: k.Alg, PublicPEM: pub, AddedAt: now})
		kids = append(kids, k.KID+" ("+k.Alg+")")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	audit := store.AuditRecord{At: now, Actor: actor, Action: "token.trust", Detail: name + ": " + strings.Join(kids, ", ")}
	if err := t.a.st.PutTokenKeys(recs, audit); err != nil {
		return nil, err
	}
	return recs, t.reload()
}

// Untrust removes the keys trusted under name, audited. Live sessions with
// their tokens are the caller's to recheck (broker.RecheckTokens).
func (t *Tokens) Untrust(name, actor string) ([]store.TokenKey, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	gone, err := t.a.st.DeleteTokenKeys(name, store.AuditRecord{At: t.a.opts.now(), Actor: actor, Action: "token.untrust"})
	if err != nil {
		return nil, err
	}
	return gone, t.reload()
}

// Transition moves a token subject to suspended, active (reactivate) or
// revoked under the certificate lifecycle (CanTransition), one audited
// compare-and-swap, then sets the subject in the snapshot (with the
// commit's revision): callers drop live sessions after it returns. dropped
// is recorded in the audit.
func (t *Tokens) Transition(sub string, to store.State, actor, reason string, dropped int) (store.TokenSubject, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	from, _, ok := t.snap.Load().subject(sub)
	if !ok { // maybe created at its first use since the last reload
		if err := t.reload(); err != nil {
			return store.TokenSubject{}, err
		}
		if from, _, ok = t.snap.Load().subject(sub); !ok {
			return store.TokenSubject{}, fmt.Errorf("token subject %q: %w", sub, store.ErrNotFound)
		}
	}
	if !CanTransition(from, to) {
		return store.TokenSubject{}, fmt.Errorf("token subject %s is %s, cannot become %s (%s): %w", sub, from, to, whyNot(from, to), ErrTransition)
	}
	action := "token." + strings.TrimPrefix(transitions[edge{from, to}], "cert.")
	rec, err := t.a.st.TransitionSubject(sub, from, to, store.AuditRecord{At: t.a.opts.now(), Actor: actor, Action: action, Reason: reason, Dropped: dropped})
	if err != nil {
		return store.TokenSubject{}, err
	}
	t.setSubject(rec)
	return rec, nil
}

// ApplySubject sets a token subject in the snapshot as a record another
// process (a cluster node) committed says, without reading the store, and
// returns the state the snapshot holds now and whether rec applied. Records
// come in commit order, this process's own after Transition set them: a
// record older (by rec.Revision) than the entry is ignored (applied false),
// so that the snapshot never goes back to a state older than one this
// process committed meanwhile. A record that leaves the state as it is (a
// use recorded, a subject created active at its first use) applies and
// copies nothing: the state may be one a reload read before the record
// came, so the caller drops the sessions of every applied record that
// refuses them, not only of a state that changed.
func (t *Tokens) ApplySubject(rec store.TokenSubject) (now store.State, applied bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	was, e, _ := t.snap.Load().subject(rec.Subject)
	switch {
	case rec.Revision != 0 && rec.Revision <= e.rev:
		return was, false
	case rec.State == was:
		// The entry keeps its older revision: every record since it held
		// this state too, so none that comes again can undo a newer one.
		return was, true
	}
	t.setSubject(rec)
	return rec.State, true
}

// setSubject publishes a snapshot with rec's subject set from it; the
// caller holds mu. Readers keep the snapshot they loaded: the subjects are
// copied, the rest is shared.
func (t *Tokens) setSubject(rec store.TokenSubject) {
	cur := t.snap.Load()
	s := *cur
	s.subjects = maps.Clone(cur.subjects)
	s.subjects[rec.Subject] = subjectEntry{state: rec.State, rev: rec.Revision}
	t.snap.Store(&s)
}

// ApplyRevoked adds a token ID another process (a cluster node) revoked to
// the snapshot, without reading the store; one it holds already copies
// nothing. A revocation is final, so the order of such changes does not
// matter.
func (t *Tokens) ApplyRevoked(jti string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := t.snap.Load()
	if cur.revoked[jti] {
		return
	}
	s := *cur
	s.revoked = maps.Clone(cur.revoked)
	s.revoked[jti] = true
	t.snap.Store(&s)
}

// RevokeID revokes one token by its jti, audited; the record is kept until
// the token expires. Its subject stays as it is.
func (t *Tokens) RevokeID(jti, actor, reason string, dropped int) (store.RevokedToken, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, err := t.a.st.TokenData()
	if err != nil {
		return store.RevokedToken{}, err
	}
	r := store.RevokedToken{JTI: jti, RevokedAt: t.a.opts.now()}
	found := false
	for _, it := range d.Issued {
		if it.JTI == jti {
			r.Subject, r.Expires, found = it.Subject, it.Expires, true
		}
	}
	if !found {
		return store.RevokedToken{}, fmt.Errorf("token %q: %w (only tokens Gatehouse issued can be revoked by jti; revoke an issuer's subject instead)", jti, store.ErrNotFound)
	}
	audit := store.AuditRecord{At: r.RevokedAt, Actor: actor, Action: "token.revoke", Reason: reason, Dropped: dropped, Detail: "jti " + jti}
	if err := t.a.st.RevokeTokenID(r, audit); err != nil {
		if errors.Is(err, store.ErrExists) {
			return store.RevokedToken{}, fmt.Errorf("token %s is already revoked: %w", jti, ErrTransition)
		}
		return store.RevokedToken{}, err
	}
	return r, t.reload()
}

// Ref is what a SUB-or-JTI argument names.
type Ref struct {
	Subject string // set when it names a subject
	JTI     string // set when it names an issued token (Subject is then its subject)
}

// Resolve turns a subject name or a token's jti into a Ref; subjects win.
func (t *Tokens) Resolve(ref string) (Ref, error) {
	if _, _, ok := t.snap.Load().subject(ref); ok {
		return Ref{Subject: ref}, nil
	}
	d, err := t.a.st.TokenData()
	if err != nil {
		return Ref{}, err
	}
	for _, sub := range d.Subjects { // created at its first use since the last reload
		if sub.Subject == ref {
			return Ref{Subject: ref}, nil
		}
	}
	for _, it := range d.Issued {
		if it.JTI == ref {
			return Ref{Subject: it.Subject, JTI: it.JTI}, nil
		}
	}
	return Ref{}, fmt.Errorf("no token subject or token id %q: %w", ref, store.ErrNotFound)
}

// Touch records the use of a subject's token at at (first and last seen),
// creating a subject an operator's issuer vouched for: one record written,
// and no reload. The snapshot learns of a new subject at its next reload
// (Transition and Resolve reload or read the store when they miss it);
// until then it is active, as a subject never seen is taken to be.
func (t *Tokens) Touch(sub string, at time.Time) error {
	return t.a.st.TouchSubject(sub, at)
}

// Prune deletes the records of expired tokens (issued and revoked ones) and
// returns how many.
func (t *Tokens) Prune() (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, err := t.a.st.PruneTokens(t.a.opts.now())
	if n == 0 {
		return 0, err
	}
	// Some were deleted even if a later chunk failed: drop them here too.
	return n, cmp.Or(err, t.reload())
}

// validSubject is token.CheckName as a token request's error: subjects
// and issuer names reach terminals, events and topic names (${sub}).
func validSubject(s string) error {
	if err := token.CheckName(s); err != nil {
		return fmt.Errorf("%w: %v", ErrTokenRequest, err)
	}
	return nil
}

// randomID is a token's jti: 16 random bytes in hex.
func randomID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("token id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
