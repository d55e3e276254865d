package ui

import (
	"slices"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/ui/pages/acl"
)

// applySnapshot makes s the current state and hands it to every page. The
// installation's warnings (CA keys not encrypted at rest) go to the status
// line once, on the first load, unless something else is already there.
func (m *Model) applySnapshot(s app.Snapshot, full bool) {
	now := m.clock()
	if !m.st.Loaded() && len(s.Warnings) > 0 && m.status.text == "" {
		m.warn("warning: " + strings.Join(s.Warnings, "; "))
	}
	m.st.Replace(s, now, full)
	snap := m.st.Snapshot()
	m.certs.SetCerts(snap.Certs)
	m.trust.SetCAs(snap.CAs)
	m.tokens.SetSubjects(snap.TokenSubjects)
	m.telemetry.SetSeries(snap.Telemetry)
	m.conns.SetTelemetry(snap.Telemetry)
	m.policy.SetPolicy(snap.Policy)
	text, open := acl.Posture(snap.Policy) // compiled once per snapshot, not per frame
	m.transports.SetPosture(text, open)
	// The title keeps the words before the explanation ("policy OPEN"), so
	// the warning still fits in 80 columns beside the listeners.
	m.posture.text, _, _ = strings.Cut(text, ":")
	m.posture.open = open
	m.refreshRights()
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
		if id, ok := m.certs.Detailing(); ok && slices.ContainsFunc(ch.Shown, func(e broker.Event) bool {
			return e.Type == broker.EventCertState && e.CertID == id
		}) {
			cmd = history(m.ctx, m.backend, id)
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

// refreshRights recomputes what the policy lets the certificate shown in
// the details view do, and its denials, from the current snapshot.
func (m *Model) refreshRights() {
	id, ok := m.certs.Detailing()
	if !ok {
		return
	}
	snap := m.st.Snapshot()
	if snap.Policy.Default == "" {
		return // a backend that sent no policy: nothing to say
	}
	for _, c := range snap.Certs {
		if c.ID == id {
			m.certs.SetRights(id, acl.Rights(snap.Policy, snap.PolicyIssuers, c, snap.Denials[c.ID]))
			return
		}
	}
}

// putCert shows the result of an action before the next snapshot arrives.
func (m *Model) putCert(c store.Cert) {
	m.gen++
	m.st.PutCert(c)
	m.certs.SetCerts(m.st.Snapshot().Certs)
	m.home.Refresh()
}
