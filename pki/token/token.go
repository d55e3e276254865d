// Package token verifies and signs the JSON Web Tokens devices may present
// as a credential instead of, or beside, a client certificate.
//
// Verification is deliberately narrow: only asymmetric algorithms (ES256,
// ES384, RS256, PS256, EdDSA), each key pinned to the one algorithm it was
// trusted with, so neither "none" nor an HMAC signed with a public key's
// bytes can pass; the header's kid selects the key and an unknown kid is
// refused; exp and sub are required (exp strictly), sub must pass
// CheckName, aud must name this broker, and nbf/iat are honoured with a
// small leeway for clock skew.
//
// It holds no state beyond the keys and imports only the standard library
// and github.com/golang-jwt/jwt/v5; lifecycle (suspended subjects, revoked
// token IDs) is the caller's.
package token

import (
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Leeway is the clock skew tolerated on nbf and iat (a device's clock ahead
// of ours); exp gets none.
const Leeway = 30 * time.Second

// MaxLen bounds a token's length: a CONNECT password or Authorization
// header longer than this is refused unparsed.
const MaxLen = 8 << 10

// Refusal reasons, as events and CLI output show them.
const (
	ReasonMalformed   = "malformed token"
	ReasonAlgorithm   = "token algorithm not allowed"
	ReasonUnknownKey  = "unknown token key id"
	ReasonSignature   = "bad token signature"
	ReasonExpired     = "token expired"
	ReasonNotYetValid = "token not yet valid"
	ReasonAudience    = "wrong token audience"
	ReasonMissing     = "token lacks a required claim (sub, exp, aud)"
)

// Error is a refused token; Reason says why in an operator's words.
type Error struct {
	reason string
	err    error
}

// Error describes the refusal with the library's detail.
func (e *Error) Error() string {
	if e.err == nil {
		return e.reason
	}
	return e.reason + ": " + e.err.Error()
}

// Reason is the operator-readable refusal reason (one of the Reason constants).
func (e *Error) Reason() string { return e.reason }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.err }

func refuse(reason string, err error) error { return &Error{reason: reason, err: err} }

// Claims are what a verified token says.
type Claims struct {
	Subject   string    `json:"sub"`
	ID        string    `json:"jti,omitempty"` // empty when the issuer sets none: such a token cannot be revoked alone
	KeyID     string    `json:"kid"`
	Audience  []string  `json:"aud"`
	Expires   time.Time `json:"exp"`
	NotBefore time.Time `json:"nbf,omitzero"`
	IssuedAt  time.Time `json:"iat,omitzero"`
}

// wireClaims is the JSON body of a token: the registered claims only.
type wireClaims struct {
	jwt.RegisteredClaims
}

// Verifier checks tokens against a fixed set of keys and one audience. It is
// immutable and safe for concurrent use; build a new one when keys change.
type Verifier struct {
	keys     map[string]Key
	audience string
	now      func() time.Time
}

// NewVerifier returns a verifier accepting tokens for audience signed by one
// of keys; now is the clock (nil: time.Now).
func NewVerifier(audience string, keys []Key, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	m := make(map[string]Key, len(keys))
	for _, k := range keys {
		m[k.KID] = k
	}
	return &Verifier{keys: m, audience: audience, now: now}
}

// Audience is the aud a token must carry.
func (v *Verifier) Audience() string { return v.audience }

// header is the part of a JOSE header read before verification.
type header struct {
	Alg string `json:"alg"`
	KID string `json:"kid"`
}

// peekHeader decodes a compact JWS's header, so the algorithm and key id
// are judged before any key is used.
func peekHeader(raw string) (header, error) {
	seg, _, ok := strings.Cut(raw, ".")
	if !ok || strings.Count(raw, ".") != 2 {
		return header{}, errors.New("not a compact JWS (three dot-separated parts)")
	}
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return header{}, fmt.Errorf("header: %w", err)
	}
	var h header
	if err := json.Unmarshal(b, &h); err != nil {
		return header{}, fmt.Errorf("header: %w", err)
	}
	return h, nil
}

// Verify checks raw and returns its claims, or an *Error whose Reason says
// why it was refused.
func (v *Verifier) Verify(raw string) (Claims, error) {
	if len(raw) > MaxLen {
		return Claims{}, refuse(ReasonMalformed, fmt.Errorf("longer than %d bytes", MaxLen))
	}
	h, err := peekHeader(raw)
	if err != nil {
		return Claims{}, refuse(ReasonMalformed, err)
	}
	if !slices.Contains(Algorithms, h.Alg) {
		return Claims{}, refuse(ReasonAlgorithm, fmt.Errorf("alg %q (allowed: %s)", h.Alg, strings.Join(Algorithms, ", ")))
	}
	key, ok := v.keys[h.KID]
	if !ok {
		return Claims{}, refuse(ReasonUnknownKey, fmt.Errorf("kid %q", h.KID))
	}
	if h.Alg != key.Alg {
		return Claims{}, refuse(ReasonAlgorithm, fmt.Errorf("alg %s, key %s is pinned to %s", h.Alg, key.KID, key.Alg))
	}
	var wc wireClaims
	_, err = jwt.ParseWithClaims(raw, &wc, func(*jwt.Token) (any, error) { return key.Public, nil },
		jwt.WithValidMethods([]string{key.Alg}),
		jwt.WithAudience(v.audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(v.now),
		jwt.WithStrictDecoding(),
	)
	if err != nil {
		return Claims{}, classify(err)
	}
	if wc.Subject == "" {
		return Claims{}, refuse(ReasonMissing, errors.New("no sub"))
	}
	// A trusted issuer's sub is stored and shown as given: it must be a
	// name Gatehouse would have issued itself.
	if err := CheckName(wc.Subject); err != nil {
		return Claims{}, refuse(ReasonMalformed, fmt.Errorf("sub: %w", err))
	}
	// The leeway is for clocks behind ours (nbf, iat): an expired token is
	// refused at once, as the broker drops a session the moment exp passes.
	if exp := wc.ExpiresAt.Time; !v.now().Before(exp) {
		return Claims{}, refuse(ReasonExpired, fmt.Errorf("expired at %s", exp.UTC().Format(time.RFC3339)))
	}
	c := Claims{Subject: wc.Subject, ID: wc.ID, KeyID: key.KID, Audience: wc.Audience, Expires: wc.ExpiresAt.Time}
	if wc.NotBefore != nil {
		c.NotBefore = wc.NotBefore.Time
	}
	if wc.IssuedAt != nil {
		c.IssuedAt = wc.IssuedAt.Time
	}
	return c, nil
}

// classify maps the library's errors to refusal reasons.
func classify(err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return refuse(ReasonMalformed, err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return refuse(ReasonSignature, err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return refuse(ReasonExpired, err)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return refuse(ReasonNotYetValid, err)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return refuse(ReasonAudience, err)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return refuse(ReasonMissing, err)
	}
	return refuse(ReasonMalformed, err)
}

// Sign issues an ES256 token with kid in its header. c.Subject, c.Expires
// and c.Audience must be set.
func Sign(key *ecdsa.PrivateKey, kid string, c Claims) (string, error) {
	if c.Subject == "" || c.Expires.IsZero() || len(c.Audience) == 0 {
		return "", errors.New("sign token: sub, exp and aud are required")
	}
	wc := wireClaims{RegisteredClaims: jwt.RegisteredClaims{
		Subject:   c.Subject,
		ID:        c.ID,
		Audience:  c.Audience,
		ExpiresAt: jwt.NewNumericDate(c.Expires),
	}}
	if !c.IssuedAt.IsZero() {
		wc.IssuedAt = jwt.NewNumericDate(c.IssuedAt)
	}
	if !c.NotBefore.IsZero() {
		wc.NotBefore = jwt.NewNumericDate(c.NotBefore)
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, wc)
	t.Header["kid"] = kid
	s, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}
