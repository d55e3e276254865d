package pki

import (
	"crypto/x509"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// A reconnect of the same chain is decided from the trust set's cache: with
// the roots taken out of the trust set but its cache kept, the chain still
// passes, so no chain was built; with a fresh cache it is refused.
func TestChainCacheHitSkipsVerification(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "gatehouse.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := Init(st)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := a.IssueClient(ClientRequest{CN: "meter"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	chain, err := parseCertsPEM(iss.ChainPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Check(chain); err != nil {
		t.Fatalf("first connect: %v", err)
	}
	cur := a.trust.Load()
	if n := cur.chains.lru.Len(); n != 1 {
		t.Fatalf("%d chains cached after the first connect, want 1", n)
	}
	noRoots := *cur
	noRoots.roots, noRoots.intermediates = x509.NewCertPool(), x509.NewCertPool()
	a.trust.Store(&noRoots)
	if err := a.Check(chain); err != nil {
		t.Fatalf("reconnect with the chain cached: %v", err)
	}
	noRoots.chains = newChainCache(chainCacheSize)
	var r *Refusal
	if err := a.Check(chain); !errors.As(err, &r) || r.Why != ReasonUnknownCA {
		t.Fatalf("reconnect with an empty cache and no roots: %v, want %q", err, ReasonUnknownCA)
	}
}

// The cache holds at most its bound, evicting the least recently used chain,
// and drops an entry whose dates have passed instead of returning it.
func TestChainCacheBoundAndDates(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	valid := chainFacts{notBefore: now.Add(-time.Hour), notAfter: now.Add(time.Hour)}
	k1, k2, k3 := [32]byte{1}, [32]byte{2}, [32]byte{3}
	c := newChainCache(2)
	c.put(k1, valid)
	c.put(k2, valid)
	if _, ok := c.get(k1, now); !ok { // k1 is now the most recently used
		t.Fatal("k1 missing")
	}
	c.put(k3, valid)
	for key, want := range map[[32]byte]bool{k1: true, k2: false, k3: true} {
		if _, ok := c.get(key, now); ok != want {
			t.Errorf("key %d cached = %v, want %v", key[0], ok, want)
		}
	}
	if n := c.lru.Len(); n != 2 || len(c.byKey) != 2 {
		t.Fatalf("%d entries (%d keys), want the bound 2", n, len(c.byKey))
	}
	for name, at := range map[string]time.Time{
		"fail/after-not-after":   now.Add(time.Hour + time.Second),
		"fail/before-not-before": now.Add(-time.Hour - time.Second),
	} {
		t.Run(name, func(t *testing.T) {
			c.put(k1, valid)
			if _, ok := c.get(k1, at); ok {
				t.Fatalf("entry valid until %s returned at %s", valid.notAfter, at)
			}
			if _, ok := c.byKey[k1]; ok {
				t.Fatal("out-of-date entry kept")
			}
		})
	}
}
