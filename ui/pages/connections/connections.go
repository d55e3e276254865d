// Package connections is the live sessions view, with a "/" filter. A
// session that drops stays for a few seconds, struck through in red with its
// cause, so an operator who suspends a certificate sees the device go.
package connections

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/ui/common"
	"github.com/gatehouse/gatehouse/ui/components/filter"
	"github.com/gatehouse/gatehouse/ui/components/spark"
	"github.com/gatehouse/gatehouse/ui/components/table"
	"github.com/gatehouse/gatehouse/ui/intent"
	"github.com/gatehouse/gatehouse/ui/keymap"
	"github.com/gatehouse/gatehouse/ui/state"
)

// entry is one row: a live session, or a dropped one while it lingers.
type entry struct {
	s     broker.Session
	cause string // set for a dropped session
}

// Page is the connections view. Create it with New.
type Page struct {
	c       common.Common
	keys    keymap.KeyMap
	table   table.Model
	filter  filter.Model
	st      *state.State          // shared with the root, read-only here
	latest  map[string]app.Series // telemetry by client id
	rows    []entry               // the sessions matching the filter
	chosen  string                // client id under the cursor, kept when rows move
	sortCol int                   // table column the rows are sorted by; -1: newest first
	desc    bool

	width, height int
}

// New returns an empty connections view.
func New(c common.Common, st *state.State) *Page {
	// k kicks here, so it cannot also move up; the arrow keys still do.
	c.Keys.Up = key.NewBinding(key.WithKeys("up"), key.WithHelp("↑", "up"))
	p := &Page{c: c, keys: c.Keys, filter: filter.New(c), st: st, latest: map[string]app.Series{}, sortCol: -1}
	p.table = c.NewTable([]table.Column{
		{Title: "CLIENT", Width: 10, Flex: true, Max: 40},
		{Title: "CN", Width: 12},
		{Title: "SERIAL", Width: 8, Priority: 2},
		{Title: "VIA", Width: 5},
		{Title: "REMOTE", Width: 18, Priority: 1},
		{Title: "FOR", Width: 5},
		{Title: "IN/OUT", Width: 9},
		{Title: "MSGS/s", Width: state.Samples},
		{Title: "LATEST", Width: 11, Priority: 3},
	})
	p.SetSize(80, 20)
	return p
}

// SetSize implements common.Page.
func (p *Page) SetSize(width, height int) {
	p.width, p.height = width, height
	p.table.SetSize(width, height-1)
	p.filter.SetWidth(width)
}

// Refresh rebuilds the rows from the state after it changed.
func (p *Page) Refresh() { p.rebuild() }

// SetTelemetry replaces what clients published recently, for the LATEST
// column.
func (p *Page) SetTelemetry(series []app.Series) {
	clear(p.latest)
	for _, s := range series {
		if len(s.Fields) > 0 {
			p.latest[s.ClientID] = s
		}
	}
}

// latestCell is the LATEST column: the messages a slow reader lost first,
// then the client's newest readings.
func (p *Page) latestCell(s broker.Session) string {
	v := p.latestValues(s.ClientID)
	if s.DroppedOut == 0 {
		return v
	}
	return strings.TrimSpace("✗" + common.Count(s.DroppedOut) + " lost " + v)
}

// latestValues renders a client's newest readings compactly: temperature
// and humidity, the fields of the Kaa-style payloads this column is for,
// else its first field by name.
func (p *Page) latestValues(clientID string) string {
	s, ok := p.latest[clientID]
	if !ok {
		return ""
	}
	last := func(name string) (string, bool) {
		if v := s.Fields[name]; len(v) > 0 {
			return common.Number(v[len(v)-1]), true
		}
		return "", false
	}
	var parts []string
	if t, ok := last("temperature"); ok {
		parts = append(parts, t+"°")
	}
	if h, ok := last("humidity"); ok {
		parts = append(parts, h+"%")
	}
	if len(parts) == 0 {
		name := s.Names()[0]
		v, _ := last(name)
		parts = append(parts, name+" "+v)
	}
	return strings.Join(parts, " ")
}

// rebuild merges the live and dropped sessions that match the filter,
// newest connection first, so a dropped row stays where it was until it goes.
func (p *Page) rebuild() {
	q := p.filter.Query()
	p.rows = p.rows[:0]
	for _, s := range p.st.Sessions() {
		if matches(s, q) {
			p.rows = append(p.rows, entry{s: s})
		}
	}
	for _, d := range p.st.Dropped() {
		if matches(d.Session, q) {
			p.rows = append(p.rows, entry{s: d.Session, cause: d.Cause})
		}
	}
	slices.SortFunc(p.rows, func(a, b entry) int {
		c := p.compare(a.s, b.s)
		if p.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
		return cmp.Compare(a.s.ClientID, b.s.ClientID)
	})
	p.table.SetSort(p.sortCol, p.desc)
	p.table.SetLen(len(p.rows))
	if i := slices.IndexFunc(p.rows, func(e entry) bool { return e.s.ClientID == p.chosen }); i >= 0 {
		p.table.SetCursor(i)
	}
	p.choose()
}

// compare orders two sessions by the sort column; newest connection first
// by default.
func (p *Page) compare(a, b broker.Session) int {
	switch p.sortCol {
	case 0:
		return cmp.Compare(a.ClientID, b.ClientID)
	case 1:
		return cmp.Compare(a.CN, b.CN)
	case 2:
		return cmp.Compare(a.Serial, b.Serial)
	case 3:
		return cmp.Compare(a.Transport, b.Transport)
	case 4:
		return cmp.Compare(a.Remote, b.Remote)
	case 5: // FOR: longest connected first reads as ascending age
		return a.ConnectedAt.Compare(b.ConnectedAt)
	case 6:
		return cmp.Compare(b.MsgsIn+b.MsgsOut, a.MsgsIn+a.MsgsOut)
	}
	return b.ConnectedAt.Compare(a.ConnectedAt)
}

// sortable are the columns o steps through; then back to newest first.
var sortable = []int{0, 1, 2, 3, 4, 5, 6}

func (p *Page) nextSort(reverse bool) {
	p.sortCol, p.desc = table.NextSort(sortable, p.sortCol, p.desc, reverse)
	p.rebuild()
}

func matches(s broker.Session, q string) bool {
	return filter.Match(q, s.ClientID, s.CN, s.Serial, s.Transport, s.Remote)
}

// choose remembers the client id under the cursor.
func (p *Page) choose() {
	if i := p.table.Cursor(); i >= 0 {
		p.chosen = p.rows[i].s.ClientID
	}
}

// Capturing implements common.Page: only the filter reads text.
func (p *Page) Capturing() bool { return p.filter.Typing() }

// Update implements common.Page.
func (p *Page) Update(msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	if cmd, ok := p.filter.Handle(k, p.rebuild); ok {
		return cmd
	}
	if key.Matches(k, p.keys.Sort, p.keys.SortReverse) {
		p.nextSort(key.Matches(k, p.keys.SortReverse))
		return nil
	}
	if e, ok := p.selected(); ok && e.cause == "" {
		switch {
		case key.Matches(k, p.keys.Kick):
			return common.Emit(intent.Kick{ClientID: e.s.ClientID})
		case key.Matches(k, p.keys.SuspendCert) && e.s.CertID != "":
			return common.Emit(intent.Transition{ID: e.s.CertID, CN: e.s.CN, To: store.StateSuspended})
		}
	}
	p.table, _ = p.table.Update(k)
	p.choose()
	return nil
}

// selected returns the row under the cursor.
func (p *Page) selected() (entry, bool) {
	i := p.table.Cursor()
	if i < 0 {
		return entry{}, false
	}
	return p.rows[i], true
}

// View implements common.Page.
func (p *Page) View() string {
	var summary string
	if p.filter.Active() {
		summary = p.filter.Summary(len(p.rows), len(p.st.Sessions())+len(p.st.Dropped()))
	} else {
		s := common.Plural(len(p.st.Sessions()), "live session")
		if n := len(p.st.Dropped()); n > 0 {
			s += " · " + common.Plural(n, "dropped session")
		}
		var slow int
		var lost uint64
		for _, ss := range p.st.Sessions() {
			if ss.DroppedOut > 0 {
				slow, lost = slow+1, lost+ss.DroppedOut
			}
		}
		if slow > 0 {
			s += " · " + common.Plural(slow, "slow reader") + " lost " + common.Count(lost) + " messages (queue full)"
		}
		summary = p.c.Styles.Summary.Render(s)
	}
	out := summary + "\n" + p.table.View(p.row(p.c.Now()))
	return common.Fit(out, p.width, p.height)
}

func (p *Page) row(now time.Time) func(int) table.Row {
	st := p.c.Styles
	return func(i int) table.Row {
		e := p.rows[i]
		s := e.s
		cn := credential(s)
		cells := []string{s.ClientID, cn, common.ShortSerial(s.Serial), s.Transport, s.Remote}
		if e.cause != "" {
			gone := st.Dropped
			return table.Row{
				Cells:  append(cells, "✗ "+e.cause),
				Styles: []lipgloss.Style{gone, gone, gone, gone, gone, st.DroppedCause},
			}
		}
		return table.Row{Cells: append(cells,
			common.Duration(now.Sub(s.ConnectedAt)),
			common.Count(s.MsgsIn)+"/"+common.Count(s.MsgsOut),
			spark.Line(p.st.Rates(s.ClientID), state.Samples), p.latestCell(s))}
	}
}

// ShortHelp implements help.KeyMap.
func (p *Page) ShortHelp() []key.Binding {
	if p.filter.Typing() {
		return p.filter.ShortHelp()
	}
	back := p.keys.Back
	back.SetHelp("esc", "clear filter")
	back.SetEnabled(p.filter.Active())
	return []key.Binding{p.keys.Kick, p.keys.SuspendCert, p.keys.Filter, back, p.keys.Up, p.keys.Down}
}

// FullHelp implements help.KeyMap.
func (p *Page) FullHelp() [][]key.Binding {
	return append(p.table.KeyMap.FullHelp(), p.ShortHelp()[:4], []key.Binding{p.keys.Sort, p.keys.SortReverse})
}

// credential names who holds a session in the CN column: the certificate's
// CN, "jwt:SUB" for a token alone (its subject), the CN marked "+jwt" for
// both, or "anonymous" for neither (its own principal, bound to its remote
// IP; dropped when the transport requires a credential).
func credential(s broker.Session) string {
	switch s.Credential {
	case broker.CredentialJWT:
		return "jwt:" + s.Subject
	case broker.CredentialCertJWT:
		return s.CN + " +jwt"
	}
	if s.CertID == "" {
		return "anonymous"
	}
	return s.CN
}
