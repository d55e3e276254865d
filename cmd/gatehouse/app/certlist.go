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
// PEM, and hands each certificate to fn as soon as its page is read. The
// next page is read while fn works through the current one, so that a
// listing written to a socket keeps both cores busy.
func (a *App) EachCert(ctx context.Context, f CertFilter, fn func(CertView) error) error {
	if f.Limit < 0 || f.Expiring < 0 {
		return usageError(fmt.Errorf("list certificates: negative limit or expiry window"))
	}
	counts := countByCert(a.liveSessions())
	now := a.now()
	done := make(chan struct{})
	defer close(done)
	pages := a.readPages(store.CertQuery{State: f.State, After: f.After, Limit: certPage, NoPEM: true}, done)
	sent := 0
	for p := range pages {
		if p.err != nil {
			return p.err
		}
		for _, c := range p.certs {
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
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// certPageRead is one page of ListCerts, or the error reading it.
type certPageRead struct {
	certs []store.Cert
	err   error
}

// readPages reads the pages q selects, one ahead of the reader, until the
// last, an error, or done is closed.
func (a *App) readPages(q store.CertQuery, done <-chan struct{}) <-chan certPageRead {
	pages := make(chan certPageRead, 1)
	go func() {
		defer close(pages)
		for {
			certs, next, err := a.st.ListCerts(q)
			select {
			case pages <- certPageRead{certs, err}:
			case <-done:
				return
			}
			if err != nil || next == "" {
				return
			}
			q.After = next
		}
	}()
	return pages
}
