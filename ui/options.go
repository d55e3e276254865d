package ui

import (
	"context"
	"time"
)

// Page identifies one of the five views, in tab order.
type Page int

// The views, in tab order; the number keys 1..5 select them.
const (
	PageCertificates Page = iota
	PageConnections
	PageTransports
	PageActivity
	PageTrust
	pageCount
)

var pageNames = [pageCount]string{"Certificates", "Connections", "Transports", "Activity", "Trust"}

// String returns the tab title of the view.
func (p Page) String() string {
	if p < 0 || p >= pageCount {
		return "unknown"
	}
	return pageNames[p]
}

// Option configures a Model.
type Option func(*Model)

// WithClock replaces time.Now, so that tests render "expires in",
// "connected for" and the linger of dropped sessions deterministically.
func WithClock(now func() time.Time) Option {
	return func(m *Model) { m.clock = now }
}

// WithStartPage opens the TUI on the given view instead of Certificates.
func WithStartPage(p Page) Option {
	return func(m *Model) {
		if p >= 0 && p < pageCount {
			m.page = p
		}
	}
}

// WithContext bounds every Backend call and the event subscription; Run
// passes its own context. Quitting cancels a context derived from it.
func WithContext(ctx context.Context) Option {
	return func(m *Model) { m.parent = ctx }
}

// WithTour shows guided steps above the status line and ticks them off as
// their Done conditions become true (for a demo mode).
func WithTour(steps []TourStep) Option {
	return func(m *Model) { m.tour = tour{steps: steps} }
}
