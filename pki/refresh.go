package pki

import (
	"fmt"

	"github.com/gatehouse/gatehouse/store"
)

// Apply sets the snapshot entry of c, a certificate record as the store's
// watch delivered it after a process sharing the store (a cluster node, this
// one included) wrote it, and returns the states the snapshot held for c.ID
// before ("" when none) and holds now. Records come in commit order, this
// process's own after it set them itself: a record older (by c.Revision)
// than the entry is ignored, so that the snapshot never goes back to a state
// older than one this process committed meanwhile. It holds the writers'
// lock, so that a commit under way sets its entry first.
func (a *Authority) Apply(c store.Cert) (was, now store.State, err error) {
	e, err := entryOf(c)
	if err != nil {
		return "", "", fmt.Errorf("apply certificate %s: %w", c.ID, err)
	}
	e.rev = c.Revision
	a.mu.Lock()
	defer a.mu.Unlock()
	old, _ := a.snap.get(c.ID)
	if e.rev != 0 && e.rev <= old.rev {
		return old.state, old.state, nil
	}
	a.snap.set(c.ID, e)
	return old.state, e.state, nil
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
		e.rev = old.rev // the index entry carries no revision; the watch replays from the compaction
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
