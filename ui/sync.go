package ui

import (
	"slices"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

// applySnapshot makes s the current state and hands it to every page.
func (m *Model) applySnapshot(s app.Snapshot, full bool) {
	now := m.clock()
	m.st.Replace(s, now, full)
	snap := m.st.Snapshot()
	m.certs.SetCerts(snap.Certs)
	m.trust.SetCAs(snap.CAs)
	m.telemetry.SetSeries(snap.Telemetry)
	m.conns.SetTelemetry(snap.Telemetry)
	if full {
		m.activity.SetEvents(snap.Events)
	}
	m.pushSessions()
	m.tour.advance(snap, nil)
}

// pushSessions tells the pages that show sessions that they changed.
func (m *Model) pushSessions() {
	ss := m.st.Sessions()
	m.certs.SetSessions(ss)
	m.conns.Refresh()
	m.home.Refresh()
	m.transports.SetData(m.st.Snapshot().Transports, ss)
}

// applyEvents folds a batch of live events into the state and reports
// whether a snapshot is needed (reload) and whether events were lost
// (resync). The details view open on a certificate that changed state
// reloads its history, so it never shows a stale one.
func (m *Model) applyEvents(events []broker.Event) (reload, resync bool, cmd tea.Cmd) {
	ch := m.st.Apply(events, m.clock())
	m.activity.Add(ch.Shown)
	if ch.Certs {
		m.certs.SetCerts(m.st.Snapshot().Certs)
		if serial, ok := m.certs.Detailing(); ok && slices.ContainsFunc(ch.Shown, func(e broker.Event) bool {
			return e.Type == broker.EventCertState && e.Serial == serial
		}) {
			cmd = history(m.ctx, m.backend, serial)
		}
	}
	if ch.Sessions || ch.Certs {
		m.pushSessions()
	} else if len(ch.Shown) > 0 {
		m.home.Refresh()
	}
	m.tour.advance(m.st.Snapshot(), ch.Shown)
	return ch.Reload, ch.Resync, cmd
}

// putCert shows the result of an action before the next snapshot arrives.
func (m *Model) putCert(c store.Cert) {
	m.gen++
	m.st.PutCert(c)
	m.certs.SetCerts(m.st.Snapshot().Certs)
	m.home.Refresh()
}
