// Package home is the live home view, the first screen: the certificates
// with their state and live sessions, the selected certificate's sessions
// (all sessions on the "all" row) with dropped ones lingering struck through
// with their cause, a rolling strip of recent activity and a header with the
// posture of each transport and the counters. Suspend, reactivate, revoke,
// create (the root opens the certificates view's form over this one) and
// the client-cert auth switches work from here, so a presenter
// suspends a device and watches it drop and get refused on one screen.
//
// Like every page it never calls the backend: it emits the certificates and
// transports pages' intents, which the root turns into Backend calls. It
// reads the shared state (package state) and never changes it.
package home

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/ui/common"
	"github.com/gatehouse/gatehouse/ui/components/table"
	"github.com/gatehouse/gatehouse/ui/intent"
	"github.com/gatehouse/gatehouse/ui/keymap"
	"github.com/gatehouse/gatehouse/ui/state"
	"github.com/gatehouse/gatehouse/ui/termsafe"
)

// prompt is a pending y/n question and what "y" sends; purge, when set,
// is what "p" sends (a revoke that also purges retained messages).
type prompt struct {
	text   string
	intent tea.Msg
	purge  tea.Msg
}

// session is one row of the sessions pane.
type session struct {
	broker.Session
	cause string // set while a dropped session lingers
}

// Page is the home view. Create it with New.
type Page struct {
	c     common.Common
	keys  keymap.KeyMap
	st    *state.State // shared with the root, read-only here
	certs table.Model
	sess  table.Model

	rows     []store.Cert // sorted by CN; row 0 of the table is "all"
	live     map[string]int
	selected string // ID of the selected row's certificate; "" for all
	sessions []session
	ask      *prompt

	width, height int
}

// New returns the home view over st.
func New(c common.Common, st *state.State) *Page {
	p := &Page{c: c, keys: c.Keys, st: st, live: map[string]int{}}
	p.certs = c.NewTable([]table.Column{
		{Title: "CN", Width: 10, Flex: true, Max: 28},
		{Title: "STATE", Width: 9},
		{Title: "LIVE", Width: 4},
		{Title: "SERIAL", Width: 8, Priority: 2},
		{Title: "EXPIRES", Width: 7, Priority: 1},
	})
	p.sess = c.NewTable([]table.Column{
		{Title: "CLIENT", Width: 10, Flex: true, Max: 28},
		{Title: "VIA", Width: 5},
		{Title: "REMOTE", Width: 15, Priority: 1},
		{Title: "CN", Width: 10, Priority: 3},
		{Title: "FOR", Width: 5},
		{Title: "ACTIVE", Width: 6, Priority: 2},
	})
	p.sess.HideCursor()
	p.SetSize(80, 20)
	p.Refresh()
	return p
}

// SetSize implements common.Page.
func (p *Page) SetSize(width, height int) {
	p.width, p.height = width, height
	p.layout()
}

// layout sizes the panes: as tall as their rows need, so a wide, tall
// window gives the rest to the activity strip, and never so tall that the
// strip gets fewer than its minimum rows.
func (p *Page) layout() {
	left := p.leftWidth()
	panes := p.paneHeight()
	p.certs.SetSize(left, panes-1)
	p.sess.SetSize(p.width-left-3, panes-1)
}

// leftWidth is the certificates pane's share: enough for the columns, at
// most half the screen.
func (p *Page) leftWidth() int { return max(34, min(p.width*45/100, 64)) }

func (p *Page) headerHeight() int {
	n := 2
	if p.width >= 100 {
		n = 1
	}
	if p.st.Snapshot().Cluster != nil { // a cluster node's line about etcd
		n++
	}
	return n
}

// minStrip is the fewest events the activity strip shows.
const minStrip = 4

// paneHeight is the height of the two panes, with their title and header
// lines: the rows they hold (the certificates with the "all" row, or the
// sessions), within what the header, the prompt line and the strip leave.
func (p *Page) paneHeight() int {
	room := p.height - p.headerHeight() - 1 - (minStrip + 1)
	need := max(len(p.rows)+1, len(p.sessions), 3) + 2
	return max(4, min(room, need))
}

// stripRows is how many recent events the activity strip shows: the rest.
func (p *Page) stripRows() int {
	return max(2, p.height-p.headerHeight()-p.paneHeight()-1-1)
}

// Refresh rebuilds the rows from the shared state after it changed.
func (p *Page) Refresh() {
	snap := p.st.Snapshot()
	p.rows = slices.Clone(snap.Certs)
	slices.SortFunc(p.rows, func(a, b store.Cert) int {
		if c := cmp.Compare(a.CN, b.CN); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	clear(p.live)
	for _, s := range snap.Sessions {
		if s.CertID != "" {
			p.live[s.CertID]++
		}
	}
	p.certs.SetLen(len(p.rows) + 1)
	if i := slices.IndexFunc(p.rows, func(c store.Cert) bool { return c.ID == p.selected }); i >= 0 {
		p.certs.SetCursor(i + 1)
	} else if p.selected != "" {
		p.certs.SetCursor(0) // its certificate is gone; never act on another
	}
	p.afterMove()
}

// afterMove records the selection, rebuilds the sessions pane and enables
// the actions the selected certificate's stored state allows (pki owns the
// lifecycle table).
func (p *Page) afterMove() {
	c, ok := p.selectedCert()
	p.selected = c.ID
	p.keys.SuspendCert.SetEnabled(ok && pki.OperatorCan(c.State, store.StateSuspended))
	p.keys.Reactivate.SetEnabled(ok && pki.OperatorCan(c.State, store.StateActive))
	p.keys.Revoke.SetEnabled(ok && pki.OperatorCan(c.State, store.StateRevoked))
	p.keys.Open.SetEnabled(ok)
	p.sessions = p.sessions[:0]
	for _, d := range p.st.Dropped() {
		if !ok || d.CertID == c.ID {
			p.sessions = append(p.sessions, session{Session: d.Session, cause: d.Cause})
		}
	}
	dropped := len(p.sessions)
	for _, s := range p.st.Sessions() {
		if !ok || s.CertID == c.ID {
			p.sessions = append(p.sessions, session{Session: s})
		}
	}
	live := p.sessions[dropped:]
	slices.SortFunc(live, func(a, b session) int {
		if c := b.ConnectedAt.Compare(a.ConnectedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ClientID, b.ClientID)
	})
	p.sess.SetLen(len(p.sessions))
	p.layout()
}

func (p *Page) selectedCert() (store.Cert, bool) {
	i := p.certs.Cursor()
	if i <= 0 {
		return store.Cert{}, false
	}
	return p.rows[i-1], true
}

// Capturing implements common.Page: a pending question reads y/n.
func (p *Page) Capturing() bool { return p.ask != nil }

// Update implements common.Page.
func (p *Page) Update(msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	if p.ask != nil {
		switch {
		case key.Matches(k, p.keys.Confirm):
			in := p.ask.intent
			p.ask = nil
			return common.Emit(in)
		case p.ask.purge != nil && key.Matches(k, p.keys.ConfirmPurge):
			in := p.ask.purge
			p.ask = nil
			return common.Emit(in)
		case key.Matches(k, p.keys.Cancel):
			p.ask = nil
		}
		return nil
	}
	c, _ := p.selectedCert()
	name := termsafe.Clean(c.CN)
	drops := p.dropPhrase(p.live[c.ID], "session")
	switch {
	case key.Matches(k, p.keys.SuspendCert):
		p.ask = &prompt{text: fmt.Sprintf("suspend %s? %s", name, drops),
			intent: intent.Transition{ID: c.ID, CN: c.CN, To: store.StateSuspended}}
	case key.Matches(k, p.keys.Reactivate):
		return common.Emit(intent.Transition{ID: c.ID, CN: c.CN, To: store.StateActive})
	case key.Matches(k, p.keys.Revoke):
		revoke := intent.Transition{ID: c.ID, CN: c.CN, To: store.StateRevoked}
		purge := revoke
		purge.PurgeRetained = true
		p.ask = &prompt{text: fmt.Sprintf("revoke %s? final; %s", name, drops), intent: revoke, purge: purge}
	case key.Matches(k, p.keys.Open):
		return common.Emit(intent.Open{ID: c.ID})
	case key.Matches(k, p.keys.ToggleMQTTS):
		p.askToggle(broker.TransportMQTTS)
	case key.Matches(k, p.keys.ToggleWSS):
		p.askToggle(broker.TransportWSS)
	case key.Matches(k, p.keys.ToggleHTTPS):
		p.askToggle(broker.TransportHTTPS)
	case key.Matches(k, p.keys.Back):
		p.certs.SetCursor(0)
		p.afterMove()
	default:
		p.certs, _ = p.certs.Update(k)
		p.afterMove()
	}
	return nil
}

// askToggle asks before switching client-cert auth on a transport, saying
// what it will drop.
func (p *Page) askToggle(name string) {
	i := slices.IndexFunc(p.st.Snapshot().Transports, func(t broker.TransportInfo) bool { return t.Name == name })
	if i < 0 {
		return
	}
	t := p.st.Snapshot().Transports[i]
	if !t.ClientAuth {
		anon := 0
		for _, s := range p.st.Sessions() {
			if s.Transport == name && s.CertID == "" {
				anon++
			}
		}
		p.ask = &prompt{text: fmt.Sprintf("client-cert auth ON for %s? %s", name, p.dropPhrase(anon, "session without a certificate")),
			intent: intent.Toggle{Transport: name, On: true}}
		return
	}
	p.ask = &prompt{text: fmt.Sprintf("client-cert auth OFF for %s? any client may then connect", name),
		intent: intent.Toggle{Transport: name, On: false}}
}

func (p *Page) dropPhrase(n int, what string) string {
	if n == 0 {
		return "drops nothing"
	}
	return "drops " + common.Plural(n, what)
}

// ShortHelp implements help.KeyMap.
func (p *Page) ShortHelp() []key.Binding {
	k := p.keys
	if p.ask != nil && p.ask.purge != nil {
		return []key.Binding{k.Confirm, k.ConfirmPurge, k.Cancel}
	}
	if p.ask != nil {
		return []key.Binding{k.Confirm, k.Cancel}
	}
	return []key.Binding{k.SuspendCert, k.Reactivate, k.Revoke, k.New, k.ToggleMQTTS, k.ToggleWSS, k.ToggleHTTPS, k.Open}
}

// FullHelp implements help.KeyMap.
func (p *Page) FullHelp() [][]key.Binding {
	back := p.keys.Back
	back.SetHelp("esc", "all sessions")
	return append(p.certs.KeyMap.FullHelp(), p.ShortHelp(), []key.Binding{back})
}

// sortedTransports lists the transports in a fixed order.
func sortedTransports(ts []broker.TransportInfo) []broker.TransportInfo {
	order := map[string]int{broker.TransportMQTTS: 0, broker.TransportWSS: 1, broker.TransportHTTPS: 2, broker.TransportMQTT: 3}
	out := slices.Clone(ts)
	slices.SortFunc(out, func(a, b broker.TransportInfo) int { return cmp.Compare(order[a.Name], order[b.Name]) })
	return out
}

func joinNonEmpty(parts ...string) string {
	var out []string
	for _, s := range parts {
		if s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}
