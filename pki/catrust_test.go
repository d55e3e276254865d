package pki_test

import (
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
	"github.com/gatehouse/gatehouse/store"
)

// A revoked certificate's key is refused under any serial: at the handshake,
// for cert import and for cert sign, and still after a restart.
func TestRevokedKeyIsBlocked(t *testing.T) {
	a, st := pkitest.New(t)
	ca := newOperatorCA(t, ecKey(t, elliptic.P256()), 0)
	if _, err := a.Trust(ca.pem(), true, "test"); err != nil {
		t.Fatal(err)
	}
	key := ecKey(t, elliptic.P256())
	withSerial := func(n int64) func(*x509.Certificate) {
		return func(c *x509.Certificate) { c.SerialNumber = big.NewInt(n); c.Subject.CommonName = "meter-1" }
	}
	first := ca.leaf(t, key.Public(), withSerial(0x1001))
	if _, err := a.ImportClient(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: first.Raw}), "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Transition(idOf(first), store.StateRevoked, "alice", "stolen", 0); err != nil {
		t.Fatal(err)
	}
	if got := reason(a.Check([]*x509.Certificate{first})); got != pki.ReasonRevoked {
		t.Fatalf("the revoked certificate itself: %q", got)
	}
	again := ca.leaf(t, key.Public(), withSerial(0x1011))
	againPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: again.Raw})
	if _, err := a.ImportClient(againPEM, "test"); !errors.Is(err, pki.ErrKeyRevoked) {
		t.Fatalf("import under a new serial: %v, want ErrKeyRevoked", err)
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "meter-1"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.SignCSR(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}), 0, "test"); !errors.Is(err, pki.ErrKeyRevoked) {
		t.Fatalf("sign a CSR for the key: %v, want ErrKeyRevoked", err)
	}
	recs, _ := st.ListAudit(store.AuditQuery{Serial: "1001"})
	if len(recs) < 1 || recs[0].Action != "cert.revoke" || !strings.Contains(recs[0].Detail, "blocked") || recs[0].Actor != "alice" {
		t.Fatalf("audit %+v", recs)
	}
	restarted, err := pki.Init(st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := restarted.SetStrict("Operator CA", false, "test"); err != nil {
		t.Fatal(err)
	}
	if got := reason(restarted.Check([]*x509.Certificate{again})); got != pki.ReasonRevokedKey {
		t.Fatalf("after a restart, auto-register on: %q, want %q", got, pki.ReasonRevokedKey)
	}
}

func TestUntrustAndStrict(t *testing.T) {
	a, st := pkitest.New(t)
	ca := newOperatorCA(t, ecKey(t, elliptic.P256()), 0)
	added, err := a.Trust(ca.pem(), true, "test")
	if err != nil {
		t.Fatal(err)
	}
	leaf := []*x509.Certificate{ca.leaf(t, ecKey(t, elliptic.P256()).Public(), nil)}
	if got := reason(a.Check(leaf)); got != pki.ReasonNotRegistered {
		t.Fatalf("strict: %q", got)
	}
	for name, tc := range map[string]struct {
		name string
		want error
	}{
		"ok/cn":         {"Operator CA", nil},
		"ok/subject":    {"CN=Operator CA", nil},
		"ok/id-prefix":  {strings.ToUpper(added[0].ID[:8]), nil},
		"fail/unknown":  {"Nobody CA", store.ErrNotFound},
		"fail/our-root": {pki.DefaultRootName, store.ErrNotFound},
		"fail/short-id": {added[0].ID[:4], store.ErrNotFound},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := a.FindTrusted(tc.name)
			if !errors.Is(err, tc.want) || (err == nil && got.ID != added[0].ID) {
				t.Fatalf("FindTrusted(%q) = %s, %v; want %v", tc.name, got.ID, err, tc.want)
			}
		})
	}
	off, err := a.SetStrict("Operator CA", false, "bob")
	if err != nil || off.Strict {
		t.Fatalf("strict off: %+v, %v", off, err)
	}
	if err := a.Check(leaf); err != nil {
		t.Fatalf("auto-register: %v", err)
	}
	if _, err := a.Untrust("Operator CA", "bob"); err != nil {
		t.Fatal(err)
	}
	if got := reason(a.Check(leaf)); got != pki.ReasonUnknownCA {
		t.Fatalf("after untrust: %q", got)
	}
	if _, err := a.Untrust("Operator CA", "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second untrust: %v", err)
	}
	recs, _ := st.ListAudit(store.AuditQuery{Limit: 2})
	if recs[0].Action != "ca.untrust" || recs[1].Action != "ca.strict" || recs[0].Actor != "bob" {
		t.Fatalf("audit %+v", recs)
	}
	// Two CAs with one name: the name is ambiguous, an ID prefix is not.
	twin := newOperatorCA(t, ecKey(t, elliptic.P256()), 0)
	if _, err := a.Trust(ca.pem(), true, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Trust(twin.pem(), true, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.FindTrusted("Operator CA"); err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Fatalf("ambiguous name: %v", err)
	}
}
