package app

import "context"

// warnClearCAKeys is the warning an installation whose CA keys are stored in
// the clear gets in serve's log and the TUI.
const warnClearCAKeys = "CA keys are not encrypted at rest: stop gatehouse and run 'gatehouse ca passphrase set --new-passphrase-file FILE'"

// Warnings lists what the operator should fix in this installation, one
// line each.
func (a *App) Warnings() []string {
	if !a.ca.Sealed() {
		return []string{warnClearCAKeys}
	}
	return nil
}

// SetCAPassphrase encrypts every CA key under pass in one store
// transaction, audited as the context's actor, and returns how many keys it
// sealed. Freed pages of the store file keep the old form until
// store.Compact rewrites it, after Close.
func (a *App) SetCAPassphrase(ctx context.Context, pass []byte) (int, error) {
	return a.ca.SetPassphrase(pass, a.actorOf(ctx))
}
