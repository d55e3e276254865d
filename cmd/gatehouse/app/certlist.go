package app

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// certPage is how many records EachCert reads from the store per read
// transaction: transactions stay short, and memory stays bounded by a page
// however large the fleet.
const certPage = 1000

// CertFilter selects the certificates EachCert lists. Zero values mean "any".
type CertFilter struct {
	State store.State `json:"state,omitempty"` // only this stored state
	// Expiring keeps only certificates in use that expire within this span
	// (see Expiring).
	Expiring time.Duration `json:"expiring,omitempty"`
	After    string        `json:"after,omitempty"` // cursor: only certificates whose ID sorts after this one
	Limit    int           `json:"limit,omitempty"` // at most this many; 0 means no limit
}

// EachCert implements Service: it reads the store page by page, without the
// PEM, and hands each certificate to fn as soon as its page is read.
func (a *App) EachCert(ctx context.Context, f CertFilter, fn func(CertView) error) error {
	if f.Limit < 0 || f.Expiring < 0 {
		return usageError(fmt.Errorf("list certificates: negative limit or expiry window"))
	}
	counts := countByCert(a.liveSessions())
	now := a.now()
	q := store.CertQuery{State: f.State, After: f.After, NoPEM: true}
	for sent := 0; ; {
		q.Limit = certPage
		certs, next, err := a.st.ListCerts(q)
		if err != nil {
			return err
		}
		for _, c := range certs {
			if f.Expiring > 0 && !Expiring(c, now, f.Expiring) {
				continue
			}
			a.seen.overlay(&c, counts[c.ID], now)
			if err := fn(view(c, counts[c.ID], now)); err != nil {
				return err
			}
			if sent++; f.Limit > 0 && sent == f.Limit {
				return nil
			}
		}
		if next == "" {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		q.After = next
	}
}
