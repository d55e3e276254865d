package app

import (
	"context"

	"github.com/gatehouse/gatehouse/store"
)

// UntrustCA implements Service: the CA is removed with its audit record
// first, then every live session whose chain no longer verifies is dropped.
func (a *App) UntrustCA(ctx context.Context, name string) (UntrustResult, error) {
	ca, err := a.ca.Untrust(name, a.actorOf(ctx))
	if err != nil {
		return UntrustResult{}, err
	}
	a.refreshPolicy() // its ca:NAME rules select nobody now
	dropped := 0
	if br := a.broker(); br != nil {
		dropped = br.Recheck("CA untrusted")
	}
	return UntrustResult{CA: ca, Dropped: dropped}, nil
}

// SetCAStrict implements Service.
func (a *App) SetCAStrict(ctx context.Context, name string, strict bool) (store.CA, error) {
	return a.ca.SetStrict(name, strict, a.actorOf(ctx))
}
