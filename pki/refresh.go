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

// RefreshAll reads every certificate's state and the key blocklist again,
// after this process missed some of the changes another process made (a
// watch that fell behind etcd's history), and returns the IDs of the
// certificates that are now suspended or revoked and were not before: their
// sessions must drop.
func (a *Authority) RefreshAll() ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	states, err := a.st.States()
	if err != nil {
		return nil, fmt.Errorf("refresh certificate states: %w", err)
	}
	var refused []string
	for _, cs := range states {
		e, err := entryOf(store.Cert{ID: cs.ID, State: cs.State, Fingerprint: cs.Fingerprint})
		if err != nil {
			return nil, fmt.Errorf("refresh certificate states: %w", err)
		}
		old, _ := a.snap.get(cs.ID)
		if old == e {
			continue
		}
		a.snap.set(cs.ID, e)
		if (cs.State == store.StateSuspended || cs.State == store.StateRevoked) && old.state != cs.State {
			refused = append(refused, cs.ID)
		}
	}
	if err := a.loadBlocked(); err != nil {
		return nil, fmt.Errorf("refresh key blocklist: %w", err)
	}
	return refused, nil
}
