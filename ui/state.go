package ui

import (
	"slices"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

// applySnapshot makes s the current state and hands it to every page. The
// slices are cloned because the root edits them in place when folding
// events, and the backend may hand out slices it keeps.
func (m *Model) applySnapshot(s app.Snapshot, full bool) {
	s.Certs = slices.Clone(s.Certs)
	s.Sessions = slices.Clone(s.Sessions)
	m.snap = s
	m.bySID = make(map[string]int, len(s.Sessions))
	for i, ss := range s.Sessions {
		m.bySID[ss.ClientID] = i
	}
	m.loaded = true
	m.certs.SetCerts(s.Certs)
	m.conns.Sample(s.Sessions, m.clock())
	m.trust.SetCAs(s.CAs)
	m.telemetry.SetSeries(s.Telemetry)
	m.conns.SetTelemetry(s.Telemetry)
	if full {
		m.activity.SetEvents(s.Events)
	}
	m.pushSessions()
	m.tour.advance(m.snap, nil)
}

// pushSessions hands the current sessions to the pages that show them.
func (m *Model) pushSessions() {
	m.certs.SetSessions(m.snap.Sessions)
	m.conns.SetSessions(m.snap.Sessions)
	m.transports.SetData(m.snap.Transports, m.snap.Sessions)
}

// applyEvents folds a batch of live events into the state. Session events
// are applied directly, so a drop shows within a frame; certificate state
// and client-cert auth changes ask for a snapshot, because an event does
// not carry the whole new record. resync reports an broker.EventResync.
func (m *Model) applyEvents(events []broker.Event) (reload, resync bool) {
	now := m.clock()
	changed := false
	shown := make([]broker.Event, 0, len(events))
	for _, ev := range events {
		switch ev.Type {
		case broker.EventResync:
			resync = true
			continue
		case broker.EventConnected:
			m.removeSession(ev.ClientID)
			m.bySID[ev.ClientID] = len(m.snap.Sessions)
			m.snap.Sessions = append(m.snap.Sessions, broker.Session{
				ClientID: ev.ClientID, Serial: ev.Serial, CN: ev.CN, Transport: ev.Transport,
				Remote: ev.Remote, ConnectedAt: ev.At, LastActivity: ev.At,
			})
			changed = true
		case broker.EventDisconnected:
			s, ok := m.removeSession(ev.ClientID)
			if !ok {
				s = broker.Session{ClientID: ev.ClientID, Serial: ev.Serial, CN: ev.CN, Transport: ev.Transport, Remote: ev.Remote}
			}
			m.conns.Drop(s, ev.Reason, now)
			changed = true
		case broker.EventCertState, broker.EventMTLS:
			reload = true
		}
		shown = append(shown, ev)
	}
	m.activity.Add(shown)
	if changed {
		m.pushSessions()
	}
	m.tour.advance(m.snap, shown)
	return reload, resync
}

// removeSession deletes the session of a client id and returns it. It
// swaps the last session into the hole (pages sort for display) so a batch
// of a thousand drops stays linear. The pages share the backing array, which
// is safe because applyEvents always ends with pushSessions before any page
// reads again.
func (m *Model) removeSession(clientID string) (broker.Session, bool) {
	ss := m.snap.Sessions
	i, ok := m.bySID[clientID]
	if !ok {
		return broker.Session{}, false
	}
	s, last := ss[i], len(ss)-1
	ss[i] = ss[last]
	m.bySID[ss[i].ClientID] = i
	delete(m.bySID, clientID)
	m.snap.Sessions = ss[:last]
	return s, true
}

// putCert replaces or adds one certificate after an action, so the table
// shows the result before the next snapshot arrives.
func (m *Model) putCert(c store.Cert) {
	m.gen++
	if i := slices.IndexFunc(m.snap.Certs, func(x store.Cert) bool { return x.Serial == c.Serial }); i >= 0 {
		m.snap.Certs[i] = c
	} else {
		m.snap.Certs = append(m.snap.Certs, c)
	}
	m.certs.SetCerts(m.snap.Certs)
}
