package pki

import (
	"fmt"

	"github.com/gatehouse/gatehouse/store"
)

// Refresh reads the certificate with ID id from the store into the snapshot,
// after another process sharing the store (a cluster node) changed it, and
// returns the stored record and the state the snapshot held before ("" when
// it held none). It holds the writers' lock, so a refresh never puts back a
// state older than one this process committed meanwhile.
func (a *Authority) Refresh(id string) (c store.Cert, was store.State, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, err = a.st.GetCert(id)
	if err != nil {
		return store.Cert{}, "", fmt.Errorf("refresh certificate %s: %w", id, err)
	}
	e, err := entryOf(c)
	if err != nil {
		return store.Cert{}, "", fmt.Errorf("refresh certificate %s: %w", id, err)
	}
	old, _ := a.snap.get(id)
	a.snap.set(id, e)
	return c, old.state, nil
}

// RefreshBlocked reads the key blocklist again, after another process
// sharing the store blocked a key.
func (a *Authority) RefreshBlocked() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.loadBlocked(); err != nil {
		return fmt.Errorf("refresh key blocklist: %w", err)
	}
	return nil
}
