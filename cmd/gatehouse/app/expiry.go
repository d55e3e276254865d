package app

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// DefaultExpiryWarning is how long before its NotAfter a certificate in use
// raises an `expiring` event.
const DefaultExpiryWarning = 30 * 24 * time.Hour

// expiryScan is how often certificates are checked for coming expiry: a
// warning days ahead needs no finer clock.
const expiryScan = time.Hour

// Expiring reports whether c is usable (not revoked, not suspended, not yet
// expired) and expires within window of now.
func Expiring(c store.Cert, now time.Time, window time.Duration) bool {
	if c.State == store.StateRevoked || c.State == store.StateSuspended || c.Expired(now) {
		return false
	}
	return c.NotAfter.Sub(now) <= window
}

// warnExpiring emits one `expiring` event per certificate that enters the
// warning window, at start and then every expiryScan, until ctx ends. A
// restart warns again once: the event is a reminder, not a record.
func (a *App) warnExpiring(ctx context.Context, window time.Duration, every time.Duration) {
	warned := map[string]bool{}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		certs, err := a.certs.index(a.st)
		if err != nil {
			a.log.Warn("expiry check", "err", err)
		}
		now := a.now()
		for _, c := range certs {
			if warned[c.ID] || !Expiring(store.Cert{State: c.State, NotAfter: c.NotAfter}, now, window) {
				continue
			}
			warned[c.ID] = true
			a.emit(broker.Event{At: now, Type: broker.EventExpiring, Serial: c.Serial, CertID: c.ID, CN: c.CN,
				Reason: fmt.Sprintf("expires in %s, on %s", daysLeft(c.NotAfter.Sub(now)), c.NotAfter.UTC().Format(time.DateOnly))})
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// daysLeft renders a remaining lifetime in whole days, rounded to the
// nearest, so a certificate issued for 30d reads "30d" a second later.
func daysLeft(d time.Duration) string {
	if d < 24*time.Hour {
		return d.Round(time.Hour).String()
	}
	return fmt.Sprintf("%dd", pki.Days(d))
}
