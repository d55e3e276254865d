package pki_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
	"github.com/gatehouse/gatehouse/store"
)

func TestAuthorizeReasons(t *testing.T) {
	a, st := pkitest.New(t)
	future, err := pki.Init(st, pki.WithClock(func() time.Time { return time.Now().Add(2 * time.Hour) }))
	if err != nil {
		t.Fatal(err)
	}
	notYet, err := future.IssueClient(pki.ClientRequest{CN: "early"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	// Issued by our CA into the store behind a's back: a's snapshot lacks it.
	other, err := pki.Init(st)
	if err != nil {
		t.Fatal(err)
	}
	unknown, err := other.IssueClient(pki.ClientRequest{CN: "ghost"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	server, err := a.IssueServer([]string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	strictCert, strictCA := pkitest.Foreign(t, "strict-device")
	if _, err := a.Trust(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: strictCA.Raw}), true, "test"); err != nil {
		t.Fatal(err)
	}
	foreign, _ := pkitest.Foreign(t, "stranger")
	withServerChain := chainOf(t, pkitest.ClientTLS(t, pkitest.Issue(t, a, "leaf-with-chain")))

	for name, tc := range map[string]struct {
		chain []*x509.Certificate
		want  string
	}{
		"ok/inactive-first-use":     {chainOf(t, pkitest.ClientTLS(t, pkitest.Issue(t, a, "new"))), ""},
		"ok/active":                 {stored(t, a, certIn(t, a, store.StateActive)), ""},
		"ok/reactivated":            {reactivated(t, a), ""},
		"ok/leaf-only-chain":        {withServerChain[:1], ""},
		"fail/no-certificate":       {nil, pki.ReasonNoCert},
		"fail/expired":              {chainOf(t, pkitest.ClientTLS(t, pkitest.Expired(t, a))), pki.ReasonExpired},
		"fail/not-yet-valid":        {chainOf(t, pkitest.ClientTLS(t, notYet)), pki.ReasonNotYetValid},
		"fail/unknown-ca":           {chainOf(t, foreign), pki.ReasonUnknownCA},
		"fail/self-signed":          {chainOf(t, pkitest.SelfSigned(t, "me")), pki.ReasonSelfSigned},
		"fail/bad-signature":        {chainOf(t, pkitest.Tampered(t, a)), pki.ReasonBadSignature},
		"fail/wrong-key-usage":      {chainOf(t, *server), pki.ReasonWrongKeyUsage},
		"fail/suspended":            {stored(t, a, certIn(t, a, store.StateSuspended)), pki.ReasonSuspended},
		"fail/revoked":              {stored(t, a, certIn(t, a, store.StateRevoked)), pki.ReasonRevoked},
		"fail/strict-not-imported":  {chainOf(t, strictCert), pki.ReasonNotRegistered},
		"fail/ours-but-not-stored":  {chainOf(t, pkitest.ClientTLS(t, unknown)), pki.ReasonUnknownCert},
		"fail/foreign-ca-presented": {append(chainOf(t, foreign), strictCA), pki.ReasonUnknownCA},
	} {
		t.Run(name, func(t *testing.T) {
			err := authorize(a, tc.chain)
			if got := reason(err); got != tc.want {
				t.Fatalf("reason %q (%v), want %q", got, err, tc.want)
			}
			var r *pki.Refusal
			if err != nil && (!errors.As(err, &r) || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("error %v is not a *Refusal naming %q", err, tc.want)
			}
		})
	}
}

// stored returns the leaf of a stored certificate as a one-element chain:
// Authorize needs no key, and completes the chain with our intermediate.
func stored(t *testing.T, a *pki.Authority, serial string) []*x509.Certificate {
	t.Helper()
	c, err := a.Store().GetCert(serial)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(c.CertPEM))
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return []*x509.Certificate{leaf}
}

func reactivated(t *testing.T, a *pki.Authority) []*x509.Certificate {
	t.Helper()
	serial := certIn(t, a, store.StateSuspended)
	if _, err := a.Transition(serial, store.StateActive, "test", "found", 0); err != nil {
		t.Fatal(err)
	}
	return stored(t, a, serial)
}

// Many handshakes of a never-used certificate race: all are admitted, exactly
// one activation is written, and later handshakes write nothing.
func TestAuthorizeFirstUseOnce(t *testing.T) {
	a, st := pkitest.New(t)
	iss := pkitest.Issue(t, a, "racer")
	chain := chainOf(t, pkitest.ClientTLS(t, iss))
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() { errs <- authorize(a, chain) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("handshake refused: %v", err)
		}
	}
	countAudit := func() int {
		recs, err := st.ListAudit(store.AuditQuery{Serial: iss.Cert.Serial})
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}
	if n := countAudit(); n != 2 {
		t.Fatalf("%d audit records, want cert.create + one cert.activate", n)
	}
	for range 10 {
		if err := authorize(a, chain); err != nil {
			t.Fatal(err)
		}
	}
	if n := countAudit(); n != 2 {
		t.Fatalf("later handshakes wrote: %d audit records", n)
	}
	c, _ := st.GetCert(iss.Cert.ID)
	if c.State != store.StateActive || c.FirstSeen.IsZero() {
		t.Fatalf("stored %+v", c)
	}
}

// A handshake that read "inactive" before an operator's suspend must never
// turn the suspend back into "active" (suspended -> active is reactivate).
func TestFirstUseNeverUndoesASuspend(t *testing.T) {
	a, st := pkitest.New(t)
	for i := range 50 {
		iss := pkitest.Issue(t, a, fmt.Sprintf("race-%d", i))
		chain := chainOf(t, pkitest.ClientTLS(t, iss))
		start := make(chan struct{})
		var wg sync.WaitGroup
		var suspendErr error
		wg.Go(func() {
			<-start
			_, suspendErr = a.Transition(iss.Cert.ID, store.StateSuspended, "operator", "stolen", 0)
		})
		for range 4 {
			wg.Go(func() {
				<-start
				_ = authorize(a, chain)
			})
		}
		close(start)
		wg.Wait()
		if suspendErr != nil {
			t.Fatalf("round %d: suspend: %v", i, suspendErr)
		}
		c, _ := st.GetCert(iss.Cert.ID)
		if c.State != store.StateSuspended {
			t.Fatalf("round %d: suspended certificate ended %s", i, c.State)
		}
		if err := authorize(a, chain); err == nil {
			t.Fatalf("round %d: suspended certificate authorized", i)
		}
	}
}

func TestTrust(t *testing.T) {
	var changes []string
	a, st := pkitest.New(t, pki.WithOnChange(func(c store.Cert, r store.AuditRecord) {
		changes = append(changes, r.Action+":"+string(c.State)+":"+string(c.Source))
	}))
	leaf, ca := pkitest.Foreign(t, "partner-device")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	added, err := a.Trust(caPEM, false, "alice")
	if err != nil || len(added) != 1 || added[0].Role != store.RoleTrusted || added[0].Strict || added[0].KeyPEM != "" {
		t.Fatalf("Trust = %+v, %v", added, err)
	}
	if _, err := a.Trust(caPEM, true, "alice"); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second Trust: %v", err)
	}
	// Non-strict: the first handshake registers the certificate and activates it.
	if err := authorize(a, chainOf(t, leaf)); err != nil {
		t.Fatal(err)
	}
	c, err := st.GetCert(store.CertID(pki.FormatSerial(leaf.Leaf.SerialNumber), leaf.Leaf.RawIssuer))
	if err != nil || c.Source != store.SourceAutoRegistered || c.State != store.StateActive || c.CN != "partner-device" {
		t.Fatalf("auto-registered %+v, %v", c, err)
	}
	if want := "[cert.create:inactive:auto-registered cert.activate:active:auto-registered]"; strings.Join(changes, " ") != strings.Trim(want, "[]") {
		t.Fatalf("changes %v, want %s", changes, want)
	}
	if err := authorize(a, chainOf(t, leaf)); err != nil {
		t.Fatal(err)
	}

	// Strict: refused until imported, then activated on first use.
	sleaf, sca := pkitest.Foreign(t, "strict-device")
	if _, err := a.Trust(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: sca.Raw}), true, "alice"); err != nil {
		t.Fatal(err)
	}
	if got := reason(authorize(a, chainOf(t, sleaf))); got != pki.ReasonNotRegistered {
		t.Fatalf("strict before import: %q", got)
	}
	if _, err := a.ImportClient(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: sleaf.Leaf.Raw}), "alice"); err != nil {
		t.Fatal(err)
	}
	if err := authorize(a, chainOf(t, sleaf)); err != nil {
		t.Fatalf("strict after import: %v", err)
	}

	cas, _ := a.CAs()
	if len(cas) != 4 || cas[2].Role != store.RoleTrusted || !cas[3].Strict {
		t.Fatalf("CAs %+v", cas)
	}
	for name, tc := range map[string]struct {
		in   []byte
		want error
	}{
		"fail/leaf-not-ca": {readTestdata(t, "foreign-client.pem"), pki.ErrNotCA},
		"fail/malformed":   {readTestdata(t, "pem/garbage-base64.pem"), pki.ErrMalformed},
		"fail/wrong-type":  {readTestdata(t, "pem/wrong-type.pem"), pki.ErrMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := a.Trust(tc.in, false, "test"); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// A certificate from a trusted CA that reuses the serial of one of ours is
// not that certificate: the snapshot also compares fingerprints.
// Serials are unique per issuer only: a partner CA's leaf that reuses one of
// our serials is a certificate of its own, registered on first use; it
// neither borrows nor changes the state of ours, and suspending one leaves the
// other alone.
func TestSameSerialFromAnotherCA(t *testing.T) {
	a, _ := pkitest.New(t)
	ours := pkitest.Issue(t, a, "victim")
	if err := authorize(a, chainOf(t, pkitest.ClientTLS(t, ours))); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Partner CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Trust(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), false, "test"); err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	serial, _ := new(big.Int).SetString(ours.Cert.Serial, 16)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "victim"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	theirs, _ := x509.ParseCertificate(leafDER)
	theirID := store.CertID(ours.Cert.Serial, theirs.RawIssuer)
	if theirID == ours.Cert.ID {
		t.Fatal("two issuers' certificates share an ID")
	}
	if err := authorize(a, []*x509.Certificate{theirs}); err != nil {
		t.Fatalf("the partner's certificate with our serial: %v", err)
	}
	if _, err := a.Transition(ours.Cert.ID, store.StateSuspended, "test", "", 0); err != nil {
		t.Fatal(err)
	}
	if s, _ := a.State(theirID); s != store.StateActive {
		t.Fatalf("suspending ours moved theirs to %s", s)
	}
	if err := authorize(a, []*x509.Certificate{theirs}); err != nil {
		t.Fatalf("theirs after ours was suspended: %v", err)
	}
	if got := reason(authorize(a, chainOf(t, pkitest.ClientTLS(t, ours)))); got != pki.ReasonSuspended {
		t.Fatalf("ours after its suspend: %q", got)
	}
}

func TestAllowed(t *testing.T) {
	a, _ := pkitest.New(t)
	for name, tc := range map[string]struct {
		serial string
		want   string
	}{
		"ok/inactive":    {certIn(t, a, store.StateInactive), ""},
		"ok/active":      {certIn(t, a, store.StateActive), ""},
		"fail/suspended": {certIn(t, a, store.StateSuspended), pki.ReasonSuspended},
		"fail/revoked":   {certIn(t, a, store.StateRevoked), pki.ReasonRevoked},
		"fail/unknown":   {"abcdef", pki.ReasonUnknownCert},
		"fail/empty":     {"", pki.ReasonUnknownCert},
	} {
		t.Run(name, func(t *testing.T) {
			if got := reason(a.Allowed(tc.serial)); got != tc.want {
				t.Fatalf("reason %q, want %q", got, tc.want)
			}
		})
	}
}

// Check runs before the client has proved it holds the key: it admits an
// inactive certificate and a first-seen one from a non-strict CA without
// writing anything; FirstUse, after the handshake, records both.
func TestCheckOnlyReads(t *testing.T) {
	a, st := pkitest.New(t)
	partner, partnerCA := pkitest.Foreign(t, "partner")
	if _, err := a.Trust(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: partnerCA.Raw}), false, "test"); err != nil {
		t.Fatal(err)
	}
	ours := chainOf(t, pkitest.ClientTLS(t, pkitest.Issue(t, a, "ours")))
	theirs := chainOf(t, partner)
	audit := func() string {
		recs, err := st.ListAudit(store.AuditQuery{})
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(recs)
	}
	before := audit()
	for _, chain := range [][]*x509.Certificate{ours, theirs, ours} {
		if err := a.Check(chain); err != nil {
			t.Fatalf("Check: %v", err)
		}
	}
	if audit() != before {
		t.Fatal("Check wrote to the audit log")
	}
	if s, _ := a.State(idOf(ours[0])); s != store.StateInactive {
		t.Fatalf("ours after Check: %s", s)
	}
	if _, err := st.GetCert(idOf(theirs[0])); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("partner certificate registered by Check: %v", err)
	}
	for _, chain := range [][]*x509.Certificate{ours, theirs} {
		if err := a.FirstUse(chain); err != nil {
			t.Fatalf("FirstUse: %v", err)
		}
		if s, _ := a.State(idOf(chain[0])); s != store.StateActive {
			t.Fatalf("after FirstUse: %s", s)
		}
	}
	// A suspend between Check and FirstUse wins.
	late := chainOf(t, pkitest.ClientTLS(t, pkitest.Issue(t, a, "late")))
	if err := a.Check(late); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Transition(idOf(late[0]), store.StateSuspended, "test", "", 0); err != nil {
		t.Fatal(err)
	}
	if got := reason(a.FirstUse(late)); got != pki.ReasonSuspended {
		t.Fatalf("FirstUse after suspend: %q", got)
	}
}
