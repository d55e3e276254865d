package pki_test

import (
	"crypto/x509"
	"errors"
	"testing"

	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
	"github.com/gatehouse/gatehouse/store"
)

func reason(err error) string {
	var r interface{ Reason() string }
	if errors.As(err, &r) {
		return r.Reason()
	}
	return ""
}

func leafChain(t *testing.T, raw [][]byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for _, der := range raw {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

func TestAuthorizeFlow(t *testing.T) {
	a, st := pkitest.New(t)
	iss := pkitest.Issue(t, a, "dev-1")
	chain := leafChain(t, pkitest.ClientTLS(t, iss).Certificate)
	if err := a.Authorize(chain); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if s, _ := a.State(iss.Cert.Serial); s != store.StateActive {
		t.Fatalf("state after first use = %s", s)
	}
	if _, err := a.Transition(iss.Cert.Serial, store.StateSuspended, "test", "lost", 0); err != nil {
		t.Fatal(err)
	}
	if got := reason(a.Authorize(chain)); got != pki.ReasonSuspended {
		t.Fatalf("suspended: reason %q", got)
	}
	if _, err := a.Transition(iss.Cert.Serial, store.StateRevoked, "test", "stolen", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Transition(iss.Cert.Serial, store.StateActive, "test", "", 0); !errors.Is(err, pki.ErrTransition) {
		t.Fatalf("revoked -> active: %v", err)
	}
	if got := reason(a.Allowed(iss.Cert.Serial)); got != pki.ReasonRevoked {
		t.Fatalf("Allowed revoked: %q", got)
	}
	c, err := st.GetCert(iss.Cert.Serial)
	if err != nil || c.State != store.StateRevoked {
		t.Fatalf("stored: %+v %v", c, err)
	}
	for name, tc := range map[string]struct {
		chain []*x509.Certificate
		want  string
	}{
		"fail/self-signed": {leafChain(t, pkitest.SelfSigned(t, "x").Certificate), pki.ReasonSelfSigned},
		"fail/tampered":    {leafChain(t, pkitest.Tampered(t, a).Certificate), pki.ReasonBadSignature},
		"fail/expired":     {leafChain(t, pkitest.ClientTLS(t, pkitest.Expired(t, a)).Certificate), pki.ReasonExpired},
	} {
		t.Run(name, func(t *testing.T) {
			if got := reason(a.Authorize(tc.chain)); got != tc.want {
				t.Fatalf("reason %q, want %q", got, tc.want)
			}
		})
	}
	foreign, _ := pkitest.Foreign(t, "f")
	if got := reason(a.Authorize(leafChain(t, foreign.Certificate))); got != pki.ReasonUnknownCA {
		t.Fatalf("foreign: %q", got)
	}
}
