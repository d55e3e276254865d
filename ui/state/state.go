// Package state is the TUI's copy of the daemon's state: the latest snapshot
// with the live events folded in, the sessions that dropped (kept for a few
// seconds, struck through, with their cause), the message rates between
// snapshots and the recent events. It knows nothing of bubbletea; the root
// model calls Replace with each snapshot and Apply with each batch of events,
// from its Update only, so nothing here needs a lock.
package state

import (
	"cmp"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

// Linger is how long a dropped session stays on screen.
const Linger = 3 * time.Second

// Samples is how many per-second rates are kept per session.
const Samples = 10

// recentMax bounds the events kept for the per-minute counters and the
// home view's activity strip.
const recentMax = 1000

// Dropped is a session that ended, shown until Until.
type Dropped struct {
	broker.Session
	Cause string
	At    time.Time // when it dropped
	Until time.Time
}

// Counters are the figures of the home view's header.
type Counters struct {
	Sessions      int
	MsgsPerSec    float64 // over the latest two snapshots, in and out
	RefusedPerMin int     // refusals in the last minute
	DeniedPerMin  int     // topic denials in the last minute
	// DroppedPerMin is how many messages were dropped for slow subscribers
	// in the last minute: the counts of the dropped events.
	DroppedPerMin uint64
}

// rateWindow is how far back a rate looks. Counting over several snapshots
// rather than the last one keeps a steady device steady: at 1 msg/s, one
// 2 s interval holds 1, 2 or 3 messages depending on where the snapshot
// fell, which would read as 0.5, 1 and 1.5 msg/s.
const rateWindow = 10 * time.Second

// count is a session's message counter at one snapshot.
type count struct {
	msgs uint64
	at   time.Time
}

// meter turns the message counters of successive snapshots into rates.
type meter struct {
	counts []count // within rateWindow of the newest, oldest first
	rates  []float64
}

// State is the TUI's copy. The zero value is not usable; call New.
type State struct {
	snap      app.Snapshot
	bySID     map[string]int // client id -> index in snap.Sessions
	dropped   map[string]Dropped
	meters    map[string]*meter
	recent    []broker.Event // oldest first
	loaded    bool
	refreshed time.Time
}

// New returns an empty state.
func New() *State {
	return &State{bySID: map[string]int{}, dropped: map[string]Dropped{}, meters: map[string]*meter{}}
}

// Replace makes snap the current state, as of now. The slices are cloned,
// because Apply edits them in place and the backend may keep its own. With
// events, the snapshot's recent events replace the kept ones (after a start,
// a resync or a resume); otherwise the live ones already folded in are kept.
func (s *State) Replace(snap app.Snapshot, now time.Time, events bool) {
	snap.Certs = slices.Clone(snap.Certs)
	snap.Sessions = slices.Clone(snap.Sessions)
	if events || !s.loaded {
		s.recent = append(s.recent[:0], snap.Events...)
		s.trim()
	}
	snap.Events = nil
	s.snap = snap
	clear(s.bySID)
	for i, ss := range snap.Sessions {
		s.bySID[ss.ClientID] = i
		delete(s.dropped, ss.ClientID) // live again
	}
	s.sample(now)
	s.loaded, s.refreshed = true, now
}

// Change says what a batch of events changed.
type Change struct {
	Sessions bool // a session came or went
	Certs    bool // a certificate changed state (already applied)
	// Reload asks for a snapshot: an event carried less than the whole new
	// record (a certificate's state change, a client-cert auth switch).
	Reload bool
	// Resync says events were lost: reload everything.
	Resync bool
	// Shown are the batch's events minus the synthetic ones, oldest first.
	Shown []broker.Event
}

// Apply folds a batch of live events (oldest first) into the state. Session
// events apply directly, so a drop shows within a frame; a certificate's
// state change is applied from its From/To at once and a snapshot asked for.
func (s *State) Apply(events []broker.Event, now time.Time) Change {
	var ch Change
	ch.Shown = make([]broker.Event, 0, len(events))
	for _, ev := range events {
		switch ev.Type {
		case broker.EventResync:
			ch.Resync = true
			continue
		case broker.EventConnected:
			s.remove(ev.ClientID)
			delete(s.dropped, ev.ClientID)
			s.bySID[ev.ClientID] = len(s.snap.Sessions)
			s.snap.Sessions = append(s.snap.Sessions, broker.Session{
				ClientID: ev.ClientID, Serial: ev.Serial, CertID: ev.CertID, CN: ev.CN, Transport: ev.Transport,
				Remote: ev.Remote, ConnectedAt: ev.At, LastActivity: ev.At, Credential: ev.Credential, Subject: ev.Subject,
			})
			ch.Sessions = true
		case broker.EventDisconnected:
			ss, ok := s.remove(ev.ClientID)
			if !ok {
				ss = broker.Session{ClientID: ev.ClientID, Serial: ev.Serial, CertID: ev.CertID, CN: ev.CN,
					Transport: ev.Transport, Remote: ev.Remote, Credential: ev.Credential, Subject: ev.Subject}
			}
			cause := ev.Reason
			if cause == "" {
				cause = "disconnected"
			}
			s.dropped[ev.ClientID] = Dropped{Session: ss, Cause: cause, At: now, Until: now.Add(Linger)}
			ch.Sessions = true
		case broker.EventCertState:
			if i := s.certIndex(ev.CertID); i >= 0 && ev.To != "" {
				s.snap.Certs[i].State = store.State(ev.To)
				s.snap.Certs[i].StateChangedAt = ev.At
				ch.Certs = true
			}
			ch.Reload = true
		case broker.EventMTLS:
			ch.Reload = true
		}
		ch.Shown = append(ch.Shown, ev)
	}
	s.recent = append(s.recent, ch.Shown...)
	s.trim()
	return ch
}

// remove deletes the session of a client id and returns it. It swaps the
// last session into the hole (pages sort for display), so a batch of a
// thousand drops stays linear.
func (s *State) remove(clientID string) (broker.Session, bool) {
	ss := s.snap.Sessions
	i, ok := s.bySID[clientID]
	if !ok {
		return broker.Session{}, false
	}
	out, last := ss[i], len(ss)-1
	ss[i] = ss[last]
	s.bySID[ss[i].ClientID] = i
	delete(s.bySID, clientID)
	s.snap.Sessions = ss[:last]
	return out, true
}

// certIndex finds a certificate by its ID: serials are unique per issuer
// only, so two certificates may share one.
func (s *State) certIndex(id string) int {
	return slices.IndexFunc(s.snap.Certs, func(c store.Cert) bool { return c.ID == id })
}

// PutCert replaces or adds one certificate after an action, so it shows
// before the next snapshot arrives.
func (s *State) PutCert(c store.Cert) {
	if i := s.certIndex(c.ID); i >= 0 {
		s.snap.Certs[i] = c
	} else {
		s.snap.Certs = append(s.snap.Certs, c)
	}
}

// Expire forgets dropped sessions whose linger has passed and reports
// whether any went.
func (s *State) Expire(now time.Time) bool {
	n := len(s.dropped)
	for id, d := range s.dropped {
		if !now.Before(d.Until) {
			delete(s.dropped, id)
		}
	}
	return len(s.dropped) != n
}

// trim drops the oldest events beyond recentMax, copying only when the
// slice has doubled, so a steady stream costs amortised O(1) per event.
func (s *State) trim() {
	if len(s.recent) > 2*recentMax {
		s.recent = append(s.recent[:0:0], s.recent[len(s.recent)-recentMax:]...)
	}
}

// sample turns the message counters of the current sessions into rates per
// second since the previous snapshot.
func (s *State) sample(now time.Time) {
	seen := make(map[string]bool, len(s.snap.Sessions))
	for _, ss := range s.snap.Sessions {
		seen[ss.ClientID] = true
		msgs := ss.MsgsIn + ss.MsgsOut
		m := s.meters[ss.ClientID]
		if m == nil {
			s.meters[ss.ClientID] = &meter{counts: []count{{msgs, now}}}
			continue
		}
		last := m.counts[len(m.counts)-1]
		if !now.After(last.at) {
			continue
		}
		if msgs < last.msgs { // a reset counter means a new session: start over
			m.counts, m.rates = m.counts[:0], m.rates[:0]
		}
		m.counts = append(m.counts, count{msgs, now})
		for len(m.counts) > 2 && now.Sub(m.counts[1].at) >= rateWindow {
			m.counts = m.counts[1:]
		}
		if first := m.counts[0]; len(m.counts) > 1 {
			m.rates = append(m.rates, float64(msgs-first.msgs)/now.Sub(first.at).Seconds())
		}
		if len(m.rates) > Samples {
			m.rates = m.rates[len(m.rates)-Samples:]
		}
	}
	for id := range s.meters {
		if !seen[id] {
			delete(s.meters, id)
		}
	}
}

// Snapshot returns the current state. Its slices are shared: read them,
// never keep or change them past the next Replace or Apply. Events is the
// kept recent events, oldest first.
func (s *State) Snapshot() app.Snapshot {
	snap := s.snap
	snap.Events = s.recent
	return snap
}

// Sessions returns the live sessions (shared, like Snapshot's).
func (s *State) Sessions() []broker.Session { return s.snap.Sessions }

// Dropped returns the dropped sessions still lingering, most recent first.
func (s *State) Dropped() []Dropped {
	out := make([]Dropped, 0, len(s.dropped))
	for _, d := range s.dropped {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Dropped) int {
		if c := b.At.Compare(a.At); c != 0 {
			return c
		}
		return cmp.Compare(a.ClientID, b.ClientID)
	})
	return out
}

// Rates returns a session's message rates per second, oldest first.
func (s *State) Rates(clientID string) []float64 {
	if m := s.meters[clientID]; m != nil {
		return m.rates
	}
	return nil
}

// Recent returns the kept events, oldest first (shared).
func (s *State) Recent() []broker.Event { return s.recent }

// Loaded reports whether a snapshot has arrived.
func (s *State) Loaded() bool { return s.loaded }

// Refreshed is when the latest snapshot arrived.
func (s *State) Refreshed() time.Time { return s.refreshed }

// Counters returns the home view's figures as of now.
func (s *State) Counters(now time.Time) Counters {
	c := Counters{Sessions: len(s.snap.Sessions)}
	for _, m := range s.meters {
		if n := len(m.rates); n > 0 {
			c.MsgsPerSec += m.rates[n-1]
		}
	}
	since := now.Add(-time.Minute)
	for i := len(s.recent) - 1; i >= 0 && !s.recent[i].At.Before(since); i-- {
		switch s.recent[i].Type {
		case broker.EventRefused:
			c.RefusedPerMin++
		case broker.EventDenied:
			c.DeniedPerMin++
		case broker.EventDropped:
			c.DroppedPerMin += s.recent[i].Count
		}
	}
	return c
}
