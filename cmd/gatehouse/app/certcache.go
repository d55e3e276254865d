package app

import (
	"fmt"
	"slices"
	"sync"

	"github.com/gatehouse/gatehouse/store"
)

// certCache keeps the certificate list the TUI and the listings ask for on
// every refresh, so they do not decode every record each time (about 110 ms
// for 10,000 certificates). Records are kept without their PEM, which only
// `cert show` needs. Every change to a certificate goes through the pki's
// OnChange callback, which invalidates the cache.
type certCache struct {
	mu    sync.Mutex
	certs []store.Cert // nil when invalid
	gen   uint64       // bumped by every invalidation
}

// list returns the cached certificates, loading them from st when needed.
// The load runs outside the mutex, so an invalidation (which runs in
// handshakes, on first use) never waits for it; a load that raced with an
// invalidation is returned but not kept. The slice is the caller's; the
// records must not be modified.
func (c *certCache) list(st *store.Store) ([]store.Cert, error) {
	c.mu.Lock()
	if c.certs != nil {
		defer c.mu.Unlock()
		return slices.Clone(c.certs), nil
	}
	gen := c.gen
	c.mu.Unlock()
	certs, _, err := st.ListCerts(store.CertQuery{})
	if err != nil {
		return nil, fmt.Errorf("list certificates: %w", err)
	}
	for i := range certs {
		certs[i].CertPEM = ""
	}
	c.mu.Lock()
	if c.gen == gen {
		c.certs = certs
	}
	c.mu.Unlock()
	return slices.Clone(certs), nil
}

// invalidate drops the cached list after a change.
func (c *certCache) invalidate() {
	c.mu.Lock()
	c.certs = nil
	c.gen++
	c.mu.Unlock()
}
