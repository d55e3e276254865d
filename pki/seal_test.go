package pki_test

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
	"github.com/gatehouse/gatehouse/store"
)

var (
	pass1 = []byte("correct horse battery staple")
	pass2 = []byte("Tr0ub4dor&3")
)

// reopen closes st and initialises a new Authority over the same file.
func reopen(t *testing.T, st *store.Store, opts ...pki.Option) (*pki.Authority, *store.Store, error) {
	t.Helper()
	path := st.Path()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a, err := pki.Init(st, opts...)
	return a, st, err
}

// newStore opens a fresh store that the test closes itself (see reopen).
func newStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "gatehouse.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// keyBlocks returns the stored PEM block of every CA key, by CA role.
func keyBlocks(t *testing.T, st *store.Store) map[store.CARole]*pem.Block {
	t.Helper()
	cas, err := st.ListCAs()
	if err != nil {
		t.Fatal(err)
	}
	out := map[store.CARole]*pem.Block{}
	for _, ca := range cas {
		if ca.KeyPEM == "" {
			continue
		}
		b, _ := pem.Decode([]byte(ca.KeyPEM))
		if b == nil {
			t.Fatalf("%s CA key is not PEM", ca.Role)
		}
		out[ca.Role] = b
	}
	if len(out) != 2 {
		t.Fatalf("%d CA keys stored, want root and issuing", len(out))
	}
	return out
}

// verifyChain checks that iss verifies against root (PEM) through a's issuing CA.
func verifyChain(t *testing.T, a *pki.Authority, root []byte, iss pki.Issued) {
	t.Helper()
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AppendCertsFromPEM(root)
	inter.AppendCertsFromPEM(a.IssuingPEM())
	leaf, err := x509.ParseCertificate(pkitest.ClientTLS(t, iss).Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("certificate does not chain to the root: %v", err)
	}
}

func TestPassphraseRoundTrip(t *testing.T) {
	st := newStore(t)
	a, err := pki.Init(st)
	if err != nil {
		t.Fatal(err)
	}
	if a.Sealed() {
		t.Fatal("a store without a passphrase reports sealed keys")
	}
	root := a.RootPEM()
	before := pkitest.Issue(t, a, "before")
	n, err := a.SetPassphrase(pass1, "alice")
	if err != nil || n != 2 {
		t.Fatalf("SetPassphrase = %d, %v; want 2 keys", n, err)
	}
	if !a.Sealed() {
		t.Fatal("not sealed after SetPassphrase")
	}
	for role, b := range keyBlocks(t, st) {
		if b.Type != "GATEHOUSE ENCRYPTED CA KEY" || b.Headers["KDF"] != "scrypt" || b.Headers["Cipher"] != "AES-256-GCM" {
			t.Fatalf("%s key stored as %q %v", role, b.Type, b.Headers)
		}
	}
	a, st, err = reopen(t, st, pki.WithPassphrase(pass1))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.RootPEM(), root) || !a.Sealed() {
		t.Fatal("reopened with another root, or not sealed")
	}
	verifyChain(t, a, root, before)
	verifyChain(t, a, root, pkitest.Issue(t, a, "after")) // the opened issuing key signs
	recs, err := st.ListAudit(store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if recs[1].Action != "ca.passphrase.set" || recs[1].Actor != "alice" {
		t.Fatalf("audit %+v, want ca.passphrase.set by alice", recs[1])
	}
}

func TestOpeningCAKeys(t *testing.T) {
	tests := map[string]struct {
		seal, open []byte // nil: none
		want       error
	}{
		"ok/sealed with its passphrase": {seal: pass1, open: pass1},
		"ok/clear without one":          {},
		"fail/sealed without one":       {seal: pass1, want: pki.ErrPassphraseRequired},
		"fail/wrong passphrase":         {seal: pass1, open: pass2, want: pki.ErrWrongPassphrase},
		"fail/clear with a passphrase":  {open: pass1, want: pki.ErrNotSealed},
		"fail/empty passphrase":         {seal: pass1, open: []byte{}, want: pki.ErrEmptyPassphrase},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st := newStore(t)
			a, err := pki.Init(st)
			if err != nil {
				t.Fatal(err)
			}
			if tc.seal != nil {
				if _, err := a.SetPassphrase(tc.seal, "test"); err != nil {
					t.Fatal(err)
				}
			}
			var opts []pki.Option
			if tc.open != nil {
				opts = append(opts, pki.WithPassphrase(tc.open))
			}
			_, _, err = reopen(t, st, opts...)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Init = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestChangePassphrase(t *testing.T) {
	st := newStore(t)
	a, err := pki.Init(st)
	if err != nil {
		t.Fatal(err)
	}
	root := a.RootPEM()
	if _, err := a.SetPassphrase(pass1, "alice"); err != nil {
		t.Fatal(err)
	}
	old := keyBlocks(t, st)
	if a, st, err = reopen(t, st, pki.WithPassphrase(pass1)); err != nil {
		t.Fatal(err)
	}
	if n, err := a.SetPassphrase(pass2, "bob"); err != nil || n != 2 {
		t.Fatalf("SetPassphrase = %d, %v", n, err)
	}
	if bytes.Equal(old[store.RoleRoot].Bytes, keyBlocks(t, st)[store.RoleRoot].Bytes) ||
		old[store.RoleRoot].Headers["Salt"] == keyBlocks(t, st)[store.RoleRoot].Headers["Salt"] {
		t.Fatal("the change kept the old ciphertext or salt")
	}
	recs, err := st.ListAudit(store.AuditQuery{Limit: 1})
	if err != nil || recs[0].Action != "ca.passphrase.change" || recs[0].Actor != "bob" {
		t.Fatalf("audit %+v, %v; want ca.passphrase.change by bob", recs, err)
	}
	if _, st, err = reopen(t, st, pki.WithPassphrase(pass1)); !errors.Is(err, pki.ErrWrongPassphrase) {
		t.Fatalf("old passphrase: %v, want ErrWrongPassphrase", err)
	}
	a, _, err = reopen(t, st, pki.WithPassphrase(pass2))
	if err != nil {
		t.Fatal(err)
	}
	verifyChain(t, a, root, pkitest.Issue(t, a, "after change"))
}

func TestNewStoreWithPassphraseIsBornSealed(t *testing.T) {
	st := newStore(t)
	t.Cleanup(func() { st.Close() })
	a, err := pki.Init(st, pki.WithPassphrase(pass1))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Sealed() {
		t.Fatal("not sealed")
	}
	b := keyBlocks(t, st)
	root, issuing := b[store.RoleRoot], b[store.RoleIssuing]
	if root.Type != "GATEHOUSE ENCRYPTED CA KEY" || issuing.Type != root.Type {
		t.Fatalf("stored as %q and %q", root.Type, issuing.Type)
	}
	// One salt per store, so a process derives one key-encryption key; a
	// nonce per key, as GCM needs.
	if root.Headers["Salt"] != issuing.Headers["Salt"] || root.Headers["Nonce"] == issuing.Headers["Nonce"] {
		t.Fatalf("salt or nonce shared wrongly: %v / %v", root.Headers, issuing.Headers)
	}
	if root.Headers["KDF-Params"] != "N=32768,r=8,p=1" {
		t.Fatalf("KDF-Params %q", root.Headers["KDF-Params"])
	}
}

// A sealed key names its CA in the GCM additional data: moved into another
// CA's record it does not open, and that is not reported as a wrong
// passphrase, since the passphrase opened the root.
func TestSealedKeyIsBoundToItsCA(t *testing.T) {
	st := newStore(t)
	if _, err := pki.Init(st, pki.WithPassphrase(pass1)); err != nil {
		t.Fatal(err)
	}
	cas, err := st.ListCAs()
	if err != nil {
		t.Fatal(err)
	}
	root, issuing := cas[0], cas[1]
	if err := st.ReplaceCAKeys([]store.CAKeyChange{{ID: issuing.ID, Old: issuing.KeyPEM, New: root.KeyPEM}}, store.AuditRecord{Action: "test"}); err != nil {
		t.Fatal(err)
	}
	_, _, err = reopen(t, st, pki.WithPassphrase(pass1))
	if !errors.Is(err, pki.ErrMalformed) || errors.Is(err, pki.ErrWrongPassphrase) {
		t.Fatalf("Init = %v, want ErrMalformed (moved key)", err)
	}
}

// The token signing key is sealed with the CA keys and follows a change of
// passphrase: tokens can be issued after it, and the old passphrase opens
// nothing.
func TestPassphraseChangeResealsTheTokenKey(t *testing.T) {
	st := newStore(t)
	a, err := pki.Init(st, pki.WithPassphrase(pass1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Tokens().Issue(pki.TokenRequest{Subject: "dev1", TTL: time.Hour}, "test"); err != nil {
		t.Fatal(err)
	}
	own, err := st.OwnTokenKey()
	if err != nil || !strings.Contains(own.PrivateKey, "GATEHOUSE ENCRYPTED CA KEY") {
		t.Fatalf("token key %q, %v; want it sealed", own.PrivateKey, err)
	}
	if n, err := a.SetPassphrase(pass2, "bob"); err != nil || n != 2 {
		t.Fatalf("SetPassphrase = %d, %v; want 2 CA keys (the token key is not counted)", n, err)
	}
	if again, _ := st.OwnTokenKey(); again.PrivateKey == own.PrivateKey {
		t.Fatal("the token key was not re-sealed")
	}
	a, _, err = reopen(t, st, pki.WithPassphrase(pass2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Tokens().Issue(pki.TokenRequest{Subject: "dev1", TTL: time.Hour}, "test"); err != nil {
		t.Fatalf("issue after the passphrase change: %v", err)
	}
}
