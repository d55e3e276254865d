package app

import (
	"context"
	"errors"

	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// IssuerResult reports an issuer suspension: the CA and how many live
// sessions of its certificates were dropped.
type IssuerResult struct {
	CA      store.CA `json:"ca"`
	Dropped int      `json:"dropped"`
}

// CreateIssuer implements Service.
func (a *App) CreateIssuer(ctx context.Context, name string) (store.CA, error) {
	ca, err := a.ca.CreateIssuer(name, a.actorOf(ctx))
	a.refreshPolicy() // ca:NAME rules may name it
	return ca, issuerError(err)
}

// ImportIssuer implements Service.
func (a *App) ImportIssuer(ctx context.Context, name string, chainPEM, keyPEM []byte) (store.CA, error) {
	ca, err := a.ca.ImportIssuer(name, chainPEM, keyPEM, a.actorOf(ctx))
	a.refreshPolicy() // ca:NAME rules may name it
	return ca, issuerError(err)
}

// SuspendIssuer implements Service: after the change every live session is
// checked again, so those of the issuer's certificates drop at once.
func (a *App) SuspendIssuer(ctx context.Context, name string, suspended bool) (IssuerResult, error) {
	ca, err := a.ca.SuspendIssuer(name, suspended, a.actorOf(ctx))
	if err != nil {
		return IssuerResult{}, issuerError(err)
	}
	res := IssuerResult{CA: ca}
	if br := a.broker(); br != nil && suspended {
		res.Dropped = br.Recheck("issuer suspended by operator")
	}
	a.certs.invalidate()
	return res, nil
}

// SetServerIssuer implements Service: the issuing CA called name signs the
// server certificate from now on; a running broker rotates it at once.
func (a *App) SetServerIssuer(ctx context.Context, name string) error {
	if err := a.ca.SetServerIssuer(name, a.actorOf(ctx)); err != nil {
		return issuerError(err)
	}
	if a.broker() != nil {
		return a.RotateServerCert(ctx)
	}
	return nil
}

// issuerError makes a malformed issuer name a usage error.
func issuerError(err error) error {
	if errors.Is(err, pki.ErrIssuer) && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrExists) {
		return usageError(err)
	}
	return err
}
