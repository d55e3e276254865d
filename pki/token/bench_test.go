package token_test

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/pki/token"
)

// BenchmarkVerifyES256 is the token's share of a JWT CONNECT.
func BenchmarkVerifyES256(b *testing.B) {
	k := ecKey(b)
	raw, err := token.Sign(k, "k", token.Claims{Subject: "dev1", ID: "j", Audience: []string{"gh"}, Expires: now.Add(time.Hour)})
	if err != nil {
		b.Fatal(err)
	}
	v := token.NewVerifier("gh", []token.Key{{KID: "k", Alg: "ES256", Public: &k.PublicKey}}, clock)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(raw); err != nil {
			b.Fatal(err)
		}
	}
}
