// Package activity is the live event stream view: connects, drops, refusals
// with their reason, certificate state changes and client-cert auth
// switches, newest first, bounded and filterable.
package activity

import (
	"strconv"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/ui/common"
	"github.com/gatehouse/gatehouse/ui/components/filter"
	"github.com/gatehouse/gatehouse/ui/components/table"
	"github.com/gatehouse/gatehouse/ui/keymap"
)

// Max is how many events the view keeps; older ones fall off.
const Max = 1000

// Page is the activity view. Create it with New.
type Page struct {
	c      common.Common
	keys   keymap.KeyMap
	table  table.Model
	filter filter.Model
	log    []broker.Event // oldest first, so appending a batch is cheap
	shown  []int          // indices into log matching the filter, newest first

	width, height int
}

// New returns an empty activity view.
func New(c common.Common) *Page {
	k := c.Keys
	p := &Page{c: c, keys: k, filter: filter.New(c)}
	p.table = c.NewTable([]table.Column{
		{Title: "TIME", Width: 8},
		{Title: "EVENT", Width: 12},
		{Title: "WHO", Width: 12},
		{Title: "CLIENT", Width: 12, Priority: 1},
		{Title: "VIA", Width: 5, Priority: 2},
		{Title: "REMOTE", Width: 15},
		{Title: "DETAIL", Width: 20, Flex: true},
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

// SetEvents replaces the stream with a snapshot's recent events, oldest
// first like every list of events.
func (p *Page) SetEvents(events []broker.Event) {
	p.log = append(p.log[:0], events...)
	p.trim()
	p.table.SetCursor(0)
	p.refilter()
}

// Add appends a batch of live events, oldest first. A cursor on the newest
// row stays there; one further down keeps pointing at the same event.
func (p *Page) Add(events []broker.Event) {
	p.log = append(p.log, events...)
	p.trim()
	before, cur := len(p.shown), p.table.Cursor()
	p.refilter()
	if cur > 0 {
		p.table.SetCursor(cur + len(p.shown) - before)
	}
}

// trim drops the oldest events beyond Max. It copies only when the slice
// has doubled, so a steady stream costs amortised O(1) per event.
func (p *Page) trim() {
	if len(p.log) > 2*Max {
		p.log = append(p.log[:0:0], p.log[len(p.log)-Max:]...)
	}
}

func (p *Page) refilter() {
	q := p.filter.Query()
	p.shown = p.shown[:0]
	for i := len(p.log) - 1; i >= 0 && len(p.shown) < Max; i-- {
		if e := p.log[i]; filter.Match(q, e.Type, e.Reason, e.ClientID, e.Serial, e.CN, e.Remote, e.Transport) {
			p.shown = append(p.shown, i)
		}
	}
	p.table.SetLen(len(p.shown))
}

// Capturing implements common.Page.
func (p *Page) Capturing() bool { return p.filter.Typing() }

// Update implements common.Page.
func (p *Page) Update(msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	if cmd, ok := p.filter.Handle(k, func() {
		p.table.SetCursor(0)
		p.refilter()
	}); ok {
		return cmd
	}
	p.table, _ = p.table.Update(k)
	return nil
}

// View implements common.Page.
func (p *Page) View() string {
	st := p.c.Styles
	summary := st.Summary.Render(common.Plural(len(p.shown), "event") + ", newest first")
	if p.filter.Active() {
		summary = p.filter.View() + st.Summary.Render("  "+strconv.Itoa(len(p.shown))+" match")
	}
	row := func(i int) table.Row {
		e := p.log[p.shown[i]]
		return table.Row{
			Cells:  []string{e.At.Local().Format("15:04:05"), e.Type, who(e), e.ClientID, e.Transport, e.Remote, detail(e)},
			Styles: []lipgloss.Style{st.Cell, common.EventStyle(p.c.Styles, e.Type)},
		}
	}
	return common.Fit(summary+"\n"+p.table.View(row), p.width, p.height)
}

// who names the party: the certificate's CN, else the MQTT client id
// (the CLIENT column is the first to go in 80 columns).
func who(e broker.Event) string {
	if e.CN != "" {
		return e.CN
	}
	return e.ClientID
}

func detail(e broker.Event) string {
	if e.Serial != "" && e.Type == broker.EventCertState {
		return common.ShortSerial(e.Serial) + " " + e.Reason
	}
	return e.Reason
}

// ShortHelp implements help.KeyMap.
func (p *Page) ShortHelp() []key.Binding {
	if p.filter.Typing() {
		return p.filter.ShortHelp()
	}
	back := p.keys.Back
	back.SetHelp("esc", "clear filter")
	back.SetEnabled(p.filter.Active())
	return []key.Binding{p.keys.Filter, back, p.keys.Up, p.keys.Down}
}

// FullHelp implements help.KeyMap.
func (p *Page) FullHelp() [][]key.Binding {
	return append(p.table.KeyMap.FullHelp(), p.ShortHelp()[:2])
}
