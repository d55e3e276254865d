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

// RefreshCAs reads the CAs again (issuers, their suspension, trusted CAs),
// after another process sharing the store changed them. The caller then
// rechecks live sessions (broker.Recheck): a CA untrusted or an issuer
// suspended elsewhere refuses certificates without changing their state.
func (a *Authority) RefreshCAs() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	cas, err := a.st.ListCAs()
	if err != nil {
		return fmt.Errorf("refresh CAs: %w", err)
	}
	def := *a.issuers.Load().def // loadIssuers sets its suspension: a copy, as readers hold the published one
	if err := a.loadIssuers(cas, &def); err != nil {
		return fmt.Errorf("refresh CAs: %w", err)
	}
	if err := a.reloadTrust(); err != nil {
		return fmt.Errorf("refresh CAs: %w", err)
	}
	return nil
}
