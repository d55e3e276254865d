package pki_test

import (
	"crypto/elliptic"
	"crypto/x509"
	"math/big"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
	"github.com/gatehouse/gatehouse/store"
)

// Every change of trust, state or key blocklist takes effect at the next
// connect of a certificate whose chain is cached: each case connects once
// (the chain is verified and cached), makes the change, and connects again.
func TestChainCacheFollowsChanges(t *testing.T) {
	type setup struct {
		a  *pki.Authority
		ca operatorCA // trusted, auto-registering
	}
	ours := func(t *testing.T, s setup) []*x509.Certificate {
		return chainOf(t, pkitest.ClientTLS(t, pkitest.Issue(t, s.a, "meter")))
	}
	partner := func(t *testing.T, s setup) []*x509.Certificate {
		return []*x509.Certificate{s.ca.leaf(t, ecKey(t, elliptic.P256()).Public(), nil)}
	}
	for name, tc := range map[string]struct {
		chain     func(*testing.T, setup) []*x509.Certificate
		change    func(*testing.T, setup, []*x509.Certificate) error
		want      string
		checkOnly bool // connects stop at Check: the certificate stays unregistered
	}{
		"refused/ca-untrusted": {partner, func(t *testing.T, s setup, _ []*x509.Certificate) error {
			_, err := s.a.Untrust("Operator CA", "test")
			return err
		}, pki.ReasonUnknownCA, false},
		"refused/ca-made-strict": {partner, func(t *testing.T, s setup, _ []*x509.Certificate) error {
			_, err := s.a.SetStrict("Operator CA", true, "test")
			return err
		}, pki.ReasonNotRegistered, true},
		"refused/issuer-suspended": {ours, func(t *testing.T, s setup, _ []*x509.Certificate) error {
			_, err := s.a.SuspendIssuer(pki.DefaultIssuer, true, "test")
			return err
		}, pki.ReasonIssuerSuspended, false},
		"refused/cert-suspended": {ours, func(t *testing.T, s setup, c []*x509.Certificate) error {
			_, err := s.a.Transition(idOf(c[0]), store.StateSuspended, "test", "", 0)
			return err
		}, pki.ReasonSuspended, false},
		"refused/key-blocked": {partner, func(t *testing.T, s setup, c []*x509.Certificate) error {
			// Another certificate with the same key is revoked: its key is blocked.
			twin := s.ca.leaf(t, c[0].PublicKey, func(x *x509.Certificate) { x.SerialNumber = big.NewInt(0x7777) })
			if err := authorize(s.a, []*x509.Certificate{twin}); err != nil {
				return err
			}
			_, err := s.a.Transition(idOf(twin), store.StateRevoked, "test", "", 0)
			return err
		}, pki.ReasonRevokedKey, false},
		"ok/issuer-reactivated": {ours, func(t *testing.T, s setup, _ []*x509.Certificate) error {
			if _, err := s.a.SuspendIssuer(pki.DefaultIssuer, true, "test"); err != nil {
				return err
			}
			_, err := s.a.SuspendIssuer(pki.DefaultIssuer, false, "test")
			return err
		}, "", false},
	} {
		t.Run(name, func(t *testing.T) {
			a, _ := pkitest.New(t)
			s := setup{a: a, ca: newOperatorCA(t, ecKey(t, elliptic.P256()), 0)}
			if _, err := a.Trust(s.ca.pem(), false, "test"); err != nil {
				t.Fatal(err)
			}
			chain := tc.chain(t, s)
			connect := func(c []*x509.Certificate) error { return authorize(a, c) }
			if tc.checkOnly {
				connect = a.Check
			}
			for range 2 { // the second connect is the cached one
				if err := connect(chain); err != nil {
					t.Fatalf("before the change: %v", err)
				}
			}
			if err := tc.change(t, s, chain); err != nil {
				t.Fatal(err)
			}
			if got := reason(a.Check(chain)); got != tc.want {
				t.Fatalf("after the change: %q, want %q", got, tc.want)
			}
		})
	}
}

// A cached chain is not reused once a CA in it has expired, though the leaf
// is still within its dates.
func TestChainCacheExpiredCA(t *testing.T) {
	start := time.Now()
	clock := start
	a, _ := pkitest.New(t, pki.WithClock(func() time.Time { return clock }))
	ca := newOperatorCA(t, ecKey(t, elliptic.P256()), 0) // valid for 24 hours
	if _, err := a.Trust(ca.pem(), false, "test"); err != nil {
		t.Fatal(err)
	}
	leaf := []*x509.Certificate{ca.leaf(t, ecKey(t, elliptic.P256()).Public(), func(c *x509.Certificate) {
		c.NotAfter = start.Add(48 * time.Hour)
	})}
	if err := authorize(a, leaf); err != nil {
		t.Fatal(err)
	}
	clock = start.Add(25 * time.Hour)
	if got := reason(a.Check(leaf)); got != pki.ReasonExpired {
		t.Fatalf("after the CA expired: %q, want %q", got, pki.ReasonExpired)
	}
}
