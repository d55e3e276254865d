package token_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/pki/token"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return now }

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// forge signs claims with any method and key, as an attacker's library would.
func forge(t *testing.T, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func reasonOf(err error) string {
	var te *token.Error
	if errors.As(err, &te) {
		return te.Reason()
	}
	return "not a token.Error: " + err.Error()
}

func TestVerify(t *testing.T) {
	own := ecKey(t)
	other := ecKey(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	v := token.NewVerifier("gatehouse", []token.Key{
		{KID: "own", Alg: "ES256", Public: &own.PublicKey},
		{KID: "rsa", Alg: "RS256", Public: &rsaKey.PublicKey},
		{KID: "ed", Alg: "EdDSA", Public: edPriv.Public()},
	}, clock)
	pubDER, err := x509.MarshalPKIXPublicKey(&own.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "dev1", "jti": "j1", "aud": "gatehouse", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := good()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	none := func(claims jwt.MapClaims) string {
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"own","typ":"JWT"}`))
		b, _ := json.Marshal(claims)
		return h + "." + base64.RawURLEncoding.EncodeToString(b) + "."
	}
	tests := map[string]struct {
		raw    string
		reason string // "" accepts
	}{
		"ok/ES256":                    {raw: forge(t, jwt.SigningMethodES256, own, "own", good())},
		"ok/RS256":                    {raw: forge(t, jwt.SigningMethodRS256, rsaKey, "rsa", good())},
		"ok/EdDSA":                    {raw: forge(t, jwt.SigningMethodEdDSA, edPriv, "ed", good())},
		"ok/skew within leeway":       {raw: forge(t, jwt.SigningMethodES256, own, "own", with("nbf", now.Add(20*time.Second).Unix()))},
		"ok/aud in a list":            {raw: forge(t, jwt.SigningMethodES256, own, "own", with("aud", []string{"x", "gatehouse"}))},
		"fail/alg none":               {raw: none(good()), reason: token.ReasonAlgorithm},
		"fail/HS256 with public key":  {raw: forge(t, jwt.SigningMethodHS256, pubPEM, "own", good()), reason: token.ReasonAlgorithm},
		"fail/HS256 with DER":         {raw: forge(t, jwt.SigningMethodHS256, pubDER, "own", good()), reason: token.ReasonAlgorithm},
		"fail/RS256 header on EC key": {raw: forge(t, jwt.SigningMethodRS256, rsaKey, "own", good()), reason: token.ReasonAlgorithm},
		"fail/PS256 on RS256 key":     {raw: forge(t, jwt.SigningMethodPS256, rsaKey, "rsa", good()), reason: token.ReasonAlgorithm},
		"fail/expired":                {raw: forge(t, jwt.SigningMethodES256, own, "own", with("exp", now.Add(-time.Minute).Unix())), reason: token.ReasonExpired},
		"fail/expired within leeway":  {raw: forge(t, jwt.SigningMethodES256, own, "own", with("exp", now.Add(-10*time.Second).Unix())), reason: token.ReasonExpired},
		"fail/not yet valid":          {raw: forge(t, jwt.SigningMethodES256, own, "own", with("nbf", now.Add(time.Minute).Unix())), reason: token.ReasonNotYetValid},
		"fail/issued in the future":   {raw: forge(t, jwt.SigningMethodES256, own, "own", with("iat", now.Add(time.Hour).Unix())), reason: token.ReasonNotYetValid},
		"fail/wrong audience":         {raw: forge(t, jwt.SigningMethodES256, own, "own", with("aud", "other-broker")), reason: token.ReasonAudience},
		"fail/no audience":            {raw: forge(t, jwt.SigningMethodES256, own, "own", with("aud", nil)), reason: token.ReasonMissing},
		"fail/unknown kid":            {raw: forge(t, jwt.SigningMethodES256, own, "nope", good()), reason: token.ReasonUnknownKey},
		"fail/no kid":                 {raw: forge(t, jwt.SigningMethodES256, own, "", good()), reason: token.ReasonUnknownKey},
		"fail/signed by another key":  {raw: forge(t, jwt.SigningMethodES256, other, "own", good()), reason: token.ReasonSignature},
		"fail/no exp":                 {raw: forge(t, jwt.SigningMethodES256, own, "own", with("exp", nil)), reason: token.ReasonMissing},
		"fail/no sub":                 {raw: forge(t, jwt.SigningMethodES256, own, "own", with("sub", nil)), reason: token.ReasonMissing},
		"fail/escape in trusted sub":  {raw: forge(t, jwt.SigningMethodRS256, rsaKey, "rsa", with("sub", "\x1b[31mx")), reason: token.ReasonMalformed},
		"fail/slash in trusted sub":   {raw: forge(t, jwt.SigningMethodRS256, rsaKey, "rsa", with("sub", "a/b")), reason: token.ReasonMalformed},
		"fail/wildcard in sub":        {raw: forge(t, jwt.SigningMethodEdDSA, edPriv, "ed", with("sub", "dev+")), reason: token.ReasonMalformed},
		"fail/garbage":                {raw: "not-a-token", reason: token.ReasonMalformed},
		"fail/too long":               {raw: strings.Repeat("a", token.MaxLen+1), reason: token.ReasonMalformed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := v.Verify(tc.raw)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if c.Subject != "dev1" || c.ID != "j1" || !c.Expires.Equal(now.Add(time.Hour)) {
					t.Fatalf("claims = %+v", c)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted a token that must fail with %q", tc.reason)
			}
			if got := reasonOf(err); got != tc.reason {
				t.Fatalf("reason = %q (%v), want %q", got, err, tc.reason)
			}
		})
	}
}

func TestSignRoundTrip(t *testing.T) {
	k := ecKey(t)
	kid, err := token.KeyID("gatehouse", &k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := token.Sign(k, kid, token.Claims{Subject: "dev1", ID: "j9", Audience: []string{"gh"},
		Expires: now.Add(time.Hour), IssuedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	c, err := token.NewVerifier("gh", []token.Key{{KID: kid, Alg: "ES256", Public: &k.PublicKey}}, clock).Verify(raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "dev1" || c.ID != "j9" || c.KeyID != kid {
		t.Fatalf("claims = %+v", c)
	}
}

func TestParseKeys(t *testing.T) {
	ec := ecKey(t)
	der, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	ecJWK := `{"kty":"EC","crv":"P-256","kid":"k1","x":"` + b64(ec.X.FillBytes(make([]byte, 32))) + `","y":"` + b64(ec.Y.FillBytes(make([]byte, 32))) + `"}`
	tests := map[string]struct {
		in      string
		kids    []string
		wantErr string
	}{
		"ok/one PEM":          {in: pemKey, kids: []string{"issuer"}},
		"ok/two PEM":          {in: pemKey + pemKey, kids: []string{"issuer-1", "issuer-2"}},
		"ok/JWKS":             {in: `{"keys":[` + ecJWK + `]}`, kids: []string{"k1"}},
		"fail/oct key":        {in: `{"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0"}]}`, wantErr: "symmetric"},
		"fail/private JWK":    {in: `{"keys":[` + strings.Replace(ecJWK, `"kty"`, `"d":"AQ","kty"`, 1) + `]}`, wantErr: "private"},
		"fail/private PEM":    {in: "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n", wantErr: "never a private key"},
		"fail/alg mismatch":   {in: `{"keys":[` + strings.Replace(ecJWK, `"kty"`, `"alg":"HS256","kty"`, 1) + `]}`, wantErr: "declares alg"},
		"fail/nothing":        {in: "hello", wantErr: "no keys"},
		"fail/JWKS kid twice": {in: `{"keys":[` + ecJWK + `,` + ecJWK + `]}`, wantErr: "twice"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			keys, err := token.ParseKeys([]byte(tc.in), "issuer")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var kids []string
			for _, k := range keys {
				if k.Alg != "ES256" {
					t.Errorf("key %s alg = %s, want ES256", k.KID, k.Alg)
				}
				kids = append(kids, k.KID)
			}
			if strings.Join(kids, ",") != strings.Join(tc.kids, ",") {
				t.Fatalf("kids = %v, want %v", kids, tc.kids)
			}
		})
	}
}
