package app

import (
	"fmt"
	"slices"
	"sync"

	"github.com/gatehouse/gatehouse/store"
)

// certCache keeps what the TUI, name resolution, the expiry scan and the
// metrics ask for on every refresh, so they do not read every record each
// time: the certificate index (store.States, a few fields per certificate,
// cheap to load at start) and, for the TUI's snapshot only, the records
// without their PEM, which only `cert show` needs. Every change to a
// certificate goes through the pki's OnChange callback, which invalidates
// both.
type certCache struct {
	mu     sync.Mutex
	certs  []store.Cert      // nil when invalid
	states []store.CertState // nil when invalid
	gen    uint64            // bumped by every invalidation
}

// list returns the cached records, loading them from st when needed. The
// slice is the caller's; the records must not be modified.
func (c *certCache) list(st *store.Store) ([]store.Cert, error) {
	return load(c, &c.certs, func() ([]store.Cert, error) {
		certs, _, err := st.ListCerts(store.CertQuery{NoPEM: true})
		if err != nil {
			return nil, fmt.Errorf("list certificates: %w", err)
		}
		return certs, nil
	})
}

// index returns the cached index entries, loading them from st when needed.
func (c *certCache) index(st *store.Store) ([]store.CertState, error) {
	return load(c, &c.states, st.States)
}

// load returns a clone of *slot, filling it with fetch when nil. The fetch
// runs outside the mutex, so an invalidation (which runs in handshakes, on
// first use) never waits for it; a fetch that raced with an invalidation is
// returned but not kept.
func load[T any](c *certCache, slot *[]T, fetch func() ([]T, error)) ([]T, error) {
	c.mu.Lock()
	if *slot != nil {
		defer c.mu.Unlock()
		return slices.Clone(*slot), nil
	}
	gen := c.gen
	c.mu.Unlock()
	v, err := fetch()
	if err != nil {
		return nil, err
	}
	if v == nil {
		v = []T{} // loaded, and empty: not nil, which means invalid
	}
	c.mu.Lock()
	if c.gen == gen {
		*slot = v
	}
	c.mu.Unlock()
	return slices.Clone(v), nil
}

// invalidate drops the cached lists after a change.
func (c *certCache) invalidate() {
	c.mu.Lock()
	c.certs, c.states = nil, nil
	c.gen++
	c.mu.Unlock()
}
