package app

import "context"

// warnClearCAKeys is the warning an installation whose CA keys are stored in
// the clear gets in serve's log and the TUI.
const warnClearCAKeys = "CA keys are not encrypted at rest: stop gatehouse and run 'gatehouse ca passphrase set --new-passphrase-file FILE'"

// warnClearClusterCAKeys is warnClearCAKeys for a cluster node: `ca
// passphrase set` works on a store file, and a cluster's keys are sealed
// when its first node creates them.
const warnClearClusterCAKeys = "CA keys are stored in etcd in the clear: a cluster's CA keys are sealed when its first node starts with --ca-passphrase-file (see docs/cluster.md); until then use etcd's TLS and access control"

// Warnings lists what the operator should fix in this installation, one
// line each.
func (a *App) Warnings() []string {
	switch {
	case a.ca.Sealed():
		return nil
	case a.node != "":
		return []string{warnClearClusterCAKeys}
	default:
		return []string{warnClearCAKeys}
	}
}

// SetCAPassphrase encrypts every CA key under pass in one store
// transaction, audited as the context's actor, and returns how many keys it
// sealed. Freed pages of the store file keep the old form until
// store.Compact rewrites it, after Close.
func (a *App) SetCAPassphrase(ctx context.Context, pass []byte) (int, error) {
	return a.ca.SetPassphrase(pass, a.actorOf(ctx))
}
