package pki_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
	"github.com/gatehouse/gatehouse/store"
)

// csrFor is a PEM CSR for cn with the given SANs, signed by key (a fresh one when nil).
func csrFor(t *testing.T, key crypto.Signer, cn string, dns []string, ips ...string) []byte {
	t.Helper()
	if key == nil {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: dns}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// keyOf parses the PKCS#8 key an Issued carries.
func keyOf(t *testing.T, iss pki.Issued) crypto.Signer {
	t.Helper()
	block, _ := pem.Decode(iss.KeyPEM)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return key.(crypto.Signer)
}

// A renewal that keeps the device's key (its CSR) must not, when the old
// certificate is superseded, put that key on the blocklist: the successor
// carries it and would be refused as "revoked key" from then on.
func TestSupersedeKeepsTheKeyTheSuccessorCarries(t *testing.T) {
	a, _ := pkitest.New(t)
	old := pkitest.Issue(t, a, "dev-same")
	next, err := a.Renew(old.Cert.ID, 0, csrFor(t, keyOf(t, old), "dev-same", nil), "test")
	if err != nil {
		t.Fatal(err)
	}
	next.KeyPEM = old.KeyPEM
	succ := chainOf(t, pkitest.ClientTLS(t, next))
	if err := authorize(a, succ); err != nil {
		t.Fatalf("first use of the successor: %v", err)
	}
	if _, ok, err := a.Supersede(next.Cert, 0); !ok || err != nil {
		t.Fatalf("Supersede: %v %v", ok, err)
	}
	if err := authorize(a, succ); err != nil {
		t.Errorf("the successor after its predecessor was superseded: %v", err)
	}
	if err := authorize(a, chainOf(t, pkitest.ClientTLS(t, old))); reason(err) != pki.ReasonRevoked {
		t.Errorf("the superseded certificate: %v, want refused as revoked", err)
	}
	// The same key renewed again is not refused as a revoked key either.
	if _, err := a.Renew(next.Cert.ID, 0, csrFor(t, keyOf(t, old), "dev-same", nil), "test"); err != nil {
		t.Errorf("renewing the successor with the same key: %v", err)
	}
}

// A superseded predecessor renewed with a new key still has its key blocked.
func TestSupersedeBlocksAReplacedKey(t *testing.T) {
	a, _ := pkitest.New(t)
	old := pkitest.Issue(t, a, "dev-newkey")
	next, err := a.Renew(old.Cert.ID, 0, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := a.Supersede(next.Cert, 0); !ok || err != nil {
		t.Fatalf("Supersede: %v %v", ok, err)
	}
	if _, err := a.SignCSR(csrFor(t, keyOf(t, old), "dev-newkey", nil), 0, "test"); !errors.Is(err, pki.ErrKeyRevoked) {
		t.Errorf("signing the replaced key again: %v, want ErrKeyRevoked", err)
	}
}

// Suspending or revoking a certificate moves its never used successor with
// it, audited, so a pending renewal cannot bring the device back.
func TestOperatorTransitionReachesThePendingSuccessor(t *testing.T) {
	for name, to := range map[string]store.State{"suspend": store.StateSuspended, "revoke": store.StateRevoked} {
		t.Run(name, func(t *testing.T) {
			a, st := pkitest.New(t)
			old := pkitest.Issue(t, a, "dev-"+name)
			next, err := a.Renew(old.Cert.ID, 0, nil, "test")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Transition(old.Cert.ID, to, "alice", "lost", 0); err != nil {
				t.Fatal(err)
			}
			if err := authorize(a, chainOf(t, pkitest.ClientTLS(t, next))); err == nil {
				t.Fatalf("the pending successor connected after its predecessor was %s", to)
			}
			if s, _ := a.State(next.Cert.ID); s != to {
				t.Errorf("successor is %s, want %s", s, to)
			}
			recs, err := st.ListAudit(store.AuditQuery{CertID: next.Cert.ID, Limit: 1})
			if err != nil || len(recs) != 1 {
				t.Fatalf("audit: %v %v", recs, err)
			}
			if r := recs[0]; r.Actor != "alice" || r.To != to || !strings.Contains(r.Reason, "with its predecessor "+old.Cert.Serial) || !strings.Contains(r.Reason, "lost") {
				t.Errorf("successor's audit record %+v", r)
			}
			// Supersede (as if the successor had been used) changes nothing.
			if _, ok, err := a.Supersede(next.Cert, 0); ok || err != nil {
				t.Errorf("Supersede: ok=%v err=%v, want nothing to do", ok, err)
			}
			if s, _ := a.State(old.Cert.ID); s != to {
				t.Errorf("predecessor is %s, want %s", s, to)
			}
		})
	}
}

// A successor used before its predecessor was suspended does not turn the
// operator's suspend into a revoke when it retires the predecessor.
func TestSupersedeLeavesASuspendedPredecessor(t *testing.T) {
	a, _ := pkitest.New(t)
	old := pkitest.Issue(t, a, "dev-susp")
	next, err := a.Renew(old.Cert.ID, 0, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := authorize(a, chainOf(t, pkitest.ClientTLS(t, next))); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Transition(old.Cert.ID, store.StateSuspended, "alice", "", 0); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := a.Supersede(next.Cert, 0); ok || err != nil {
		t.Errorf("Supersede of a suspended predecessor: ok=%v err=%v, want nothing to do", ok, err)
	}
	if s, _ := a.State(old.Cert.ID); s != store.StateSuspended {
		t.Errorf("predecessor is %s, want it left suspended", s)
	}
	if s, _ := a.State(next.Cert.ID); s != store.StateActive {
		t.Errorf("a successor used before the suspend is %s, want active", s)
	}
}

// A certificate has at most one outstanding successor.
func TestRenewRefusedWhileASuccessorIsPending(t *testing.T) {
	a, _ := pkitest.New(t)
	old := pkitest.Issue(t, a, "dev-pend")
	next, err := a.Renew(old.Cert.ID, 0, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	for name, renew := range map[string]func() error{
		"operator": func() error { _, err := a.Renew(old.Cert.ID, 0, nil, "test"); return err },
		"device": func() error {
			_, err := a.RenewSelf(old.Cert.ID, csrFor(t, nil, "dev-pend", nil), "device dev-pend")
			return err
		},
	} {
		if err := renew(); !errors.Is(err, pki.ErrRenewalPending) || !strings.Contains(err.Error(), "renewal pending: "+next.Cert.Serial) {
			t.Errorf("%s renewal with a pending successor: %v, want renewal pending: %s", name, err, next.Cert.Serial)
		}
	}
	if _, err := a.Transition(next.Cert.ID, store.StateRevoked, "test", "", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Renew(old.Cert.ID, 0, nil, "test"); err != nil {
		t.Errorf("renewal once the pending successor was revoked: %v", err)
	}
}

// A device's own renewal keeps only the SANs its certificate has; an
// operator's CSR renewal keeps the CSR's, a new-key renewal the old ones.
func TestRenewSANs(t *testing.T) {
	a, _ := pkitest.New(t)
	old, err := a.SignCSR(csrFor(t, nil, "gw", []string{"gw.example"}, "10.0.0.1"), 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	wide := func() []byte {
		return csrFor(t, nil, "gw", []string{"gw.example", "bank.example"}, "10.0.0.1", "10.9.9.9")
	}
	for _, tc := range []struct {
		name  string
		renew func() (pki.Issued, error)
		want  []string
	}{
		{"device", func() (pki.Issued, error) { return a.RenewSelf(old.Cert.ID, wide(), "device gw") }, []string{"gw.example", "10.0.0.1"}},
		{"operator CSR", func() (pki.Issued, error) { return a.Renew(old.Cert.ID, 0, wide(), "test") }, []string{"gw.example", "bank.example", "10.0.0.1", "10.9.9.9"}},
		{"new key", func() (pki.Issued, error) { return a.Renew(old.Cert.ID, 0, nil, "test") }, []string{"gw.example", "10.0.0.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next, err := tc.renew()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(next.Cert.SANs, tc.want) {
				t.Errorf("SANs %v, want %v", next.Cert.SANs, tc.want)
			}
			if _, err := a.Transition(next.Cert.ID, store.StateRevoked, "test", "", 0); err != nil { // not pending any more
				t.Fatal(err)
			}
		})
	}
}
