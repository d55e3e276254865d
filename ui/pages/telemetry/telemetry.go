// Package telemetry is the view of what clients publish: a list of the
// publishing clients with their message counts and rates, a line per
// numeric JSON field with its latest value, range and a sparkline, and on
// enter a tall chart of each field of one client. Clients that publish
// anything but JSON are shown by size and rate only.
//
// Clients have blocks of different heights, so the view keeps its own
// cursor and scroll offset, in clients, instead of using the table
// component; it only ever formats the blocks on screen.
package telemetry

import (
	"cmp"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/ui/common"
	"github.com/gatehouse/gatehouse/ui/components/filter"
	"github.com/gatehouse/gatehouse/ui/keymap"
)

// maxFieldLines is how many lines a client's fields take in the list at
// most; a client with more shows one line fewer and a "more" line, and the
// chart view shows them all.
const maxFieldLines = 4

// Page is the telemetry view. Create it with New.
type Page struct {
	c      common.Common
	keys   keymap.KeyMap
	filter filter.Model
	all    []app.Series // sorted by client id
	shown  []int        // indices into all matching the filter
	jsons  int          // clients in all with numeric fields

	cursor, offset int    // into shown
	chosen         string // client id under the cursor, kept when rows move
	charting       bool   // the chart view of chosen is open
	fieldOff       int    // first field shown in the chart view

	width, height int
}

// New returns an empty telemetry view.
func New(c common.Common) *Page {
	p := &Page{c: c, keys: c.Keys, filter: filter.New(c)}
	p.SetSize(80, 20)
	return p
}

// SetSize implements common.Page.
func (p *Page) SetSize(width, height int) {
	p.width, p.height = width, height
	p.filter.SetWidth(width)
	p.scroll()
	p.clampFields()
}

// SetSeries replaces the telemetry with a snapshot's. The cursor stays on
// its client; the chart view closes when its client is no longer tracked.
// The page keeps series, and the maps in it, until the next call and only
// reads them.
func (p *Page) SetSeries(series []app.Series) {
	byID := func(a, b app.Series) int { return cmp.Compare(a.ClientID, b.ClientID) }
	if !slices.IsSortedFunc(series, byID) {
		series = slices.Clone(series)
		slices.SortFunc(series, byID)
	}
	p.all = series
	p.jsons = 0
	for _, s := range series {
		if len(s.Fields) > 0 {
			p.jsons++
		}
	}
	charted := p.chosen
	p.refilter()
	if p.charting {
		if s, ok := p.selected(); !ok || s.ClientID != charted {
			p.charting = false
		}
	}
	p.clampFields()
}

// refilter recomputes the matching clients and puts the cursor back on the
// client it was on, or, when that one went, remembers the client that is
// now under it.
func (p *Page) refilter() {
	q := p.filter.Query()
	p.shown = p.shown[:0]
	at := -1
	for i, s := range p.all {
		if q == "" || matches(s, q) {
			if s.ClientID == p.chosen {
				at = len(p.shown)
			}
			p.shown = append(p.shown, i)
		}
	}
	if at >= 0 {
		p.cursor = at
	}
	p.scroll()
	p.choose()
}

func matches(s app.Series, q string) bool {
	if strings.Contains(strings.ToLower(s.ClientID), q) || strings.Contains(strings.ToLower(s.Topic), q) {
		return true
	}
	for name := range s.Fields {
		if strings.Contains(strings.ToLower(name), q) {
			return true
		}
	}
	return false
}

// selected returns the client under the cursor.
func (p *Page) selected() (app.Series, bool) {
	if len(p.shown) == 0 {
		return app.Series{}, false
	}
	return p.all[p.shown[p.cursor]], true
}

// Capturing implements common.Page: only the filter reads text.
func (p *Page) Capturing() bool { return p.filter.Typing() }

// Update implements common.Page.
func (p *Page) Update(msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	if p.filter.Typing() {
		return p.filter.Type(k, func() {
			p.cursor, p.offset = 0, 0
			p.refilter()
		})
	}
	if p.charting {
		p.updateChart(k)
		return nil
	}
	switch {
	case key.Matches(k, p.keys.Filter):
		return p.filter.Start()
	case key.Matches(k, p.keys.Back) && p.filter.Active():
		p.filter.Clear()
		p.refilter()
	case key.Matches(k, p.keys.Open):
		if _, ok := p.selected(); ok {
			p.charting, p.fieldOff = true, 0
			p.clampFields()
		}
	case key.Matches(k, p.keys.Up):
		p.move(-1)
	case key.Matches(k, p.keys.Down):
		p.move(1)
	case key.Matches(k, p.keys.PageUp):
		p.move(-max(1, p.fullyVisible()))
	case key.Matches(k, p.keys.PageDown):
		p.move(max(1, p.fullyVisible()))
	case key.Matches(k, p.keys.Top):
		p.move(-len(p.shown))
	case key.Matches(k, p.keys.Bottom):
		p.move(len(p.shown))
	}
	return nil
}

// updateChart scrolls the fields of the chart view, or leaves it.
func (p *Page) updateChart(k tea.KeyMsg) {
	switch {
	case key.Matches(k, p.keys.Back):
		p.charting = false
	case key.Matches(k, p.keys.Up):
		p.fieldOff--
	case key.Matches(k, p.keys.Down):
		p.fieldOff++
	}
	p.clampFields()
}

func (p *Page) move(delta int) {
	p.cursor += delta
	p.scroll()
	p.choose()
}

// choose remembers the client under the cursor.
func (p *Page) choose() {
	if s, ok := p.selected(); ok {
		p.chosen = s.ClientID
	}
}

// ShortHelp implements help.KeyMap.
func (p *Page) ShortHelp() []key.Binding {
	if p.filter.Typing() {
		return p.filter.ShortHelp()
	}
	if p.charting {
		back := p.keys.Back
		back.SetHelp("esc", "back to the list")
		up, down := p.keys.Up, p.keys.Down
		up.SetHelp("↑/k", "previous fields")
		down.SetHelp("↓/j", "more fields")
		scrolls := p.chartFields() < p.fieldCount()
		up.SetEnabled(scrolls)
		down.SetEnabled(scrolls)
		return []key.Binding{back, up, down}
	}
	open := p.keys.Open
	open.SetHelp("enter", "chart")
	open.SetEnabled(len(p.shown) > 0)
	back := p.keys.Back
	back.SetHelp("esc", "clear filter")
	back.SetEnabled(p.filter.Active())
	return []key.Binding{open, p.keys.Filter, back, p.keys.Up, p.keys.Down}
}

// FullHelp implements help.KeyMap.
func (p *Page) FullHelp() [][]key.Binding {
	if p.filter.Typing() || p.charting {
		return [][]key.Binding{p.ShortHelp()}
	}
	k := p.keys
	return [][]key.Binding{{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom}, p.ShortHelp()[:3]}
}
