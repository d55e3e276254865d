// Package filter is the "/" filter line shared by the list views: a bubbles
// textinput that is either being typed into or holding an applied query.
package filter

import (
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/ui/common"
)

// Model is the filter state.
type Model struct {
	c      common.Common
	input  textinput.Model
	typing bool
}

// New returns an empty filter.
func New(c common.Common) Model {
	in := textinput.New()
	in.Prompt = "/ "
	in.Placeholder = "type to filter, enter to apply, esc to clear"
	in.PlaceholderStyle = c.Styles.Muted
	in.CharLimit = 64
	in.Cursor.SetMode(cursor.CursorStatic) // no blink ticks redrawing over SSH
	return Model{c: c, input: in}
}

// Start begins typing, keeping any earlier query for editing.
func (m *Model) Start() tea.Cmd {
	m.typing = true
	m.input.CursorEnd()
	return m.input.Focus()
}

// Handle is how a list page offers a key to its filter: while typing, every
// key edits the query; otherwise the filter key starts typing and the back
// key clears an applied query. changed runs whenever the query changed, so the
// page can recompute its rows. It reports whether the key was the filter's.
func (m *Model) Handle(k tea.KeyMsg, changed func()) (tea.Cmd, bool) {
	switch {
	case m.typing:
		return m.Type(k, changed), true
	case key.Matches(k, m.c.Keys.Filter):
		return m.Start(), true
	case key.Matches(k, m.c.Keys.Back) && m.Active():
		m.Clear()
		changed()
		return nil, true
	}
	return nil, false
}

// Typing reports whether keys go to the filter.
func (m Model) Typing() bool { return m.typing }

// Active reports whether a query is applied or being typed.
func (m Model) Active() bool { return m.typing || m.input.Value() != "" }

// Query returns the lower-cased query; empty matches everything.
func (m Model) Query() string { return strings.ToLower(strings.TrimSpace(m.input.Value())) }

// Match reports whether any field contains q, a query from Query, ignoring
// case. The empty query matches everything.
func Match(q string, fields ...string) bool {
	if q == "" {
		return true
	}
	for _, f := range fields {
		if strings.Contains(strings.ToLower(f), q) {
			return true
		}
	}
	return false
}

// Clear drops the query and stops typing.
func (m *Model) Clear() {
	m.typing = false
	m.input.Reset()
	m.input.Blur()
}

// SetWidth sets the width of the input, leaving room for a match count
// after it.
func (m *Model) SetWidth(w int) { m.input.Width = max(8, min(40, w-30)) }

// Type feeds a key to the filter being typed and calls changed when the query
// changed, so the page can re-filter its rows.
func (m *Model) Type(msg tea.Msg, changed func()) tea.Cmd {
	next, cmd, ok := m.Update(msg)
	*m = next
	if ok {
		changed()
	}
	return cmd
}

// Update handles a key while typing: enter applies, esc clears, anything
// else edits. It reports whether the query changed.
func (m Model) Update(msg tea.Msg) (Model, tea.Cmd, bool) {
	k, ok := msg.(tea.KeyMsg)
	if !ok || !m.typing {
		return m, nil, false
	}
	before := m.Query()
	switch {
	case key.Matches(k, m.c.Keys.Submit):
		m.typing = false
		m.input.Blur()
		return m, nil, false
	case key.Matches(k, m.c.Keys.Back):
		m.Clear()
		return m, nil, before != ""
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	return m, cmd, m.Query() != before
}

// View renders the input while typing, the applied query otherwise.
func (m Model) View() string {
	if m.typing {
		return m.input.View()
	}
	if q := m.input.Value(); q != "" {
		return "filter: " + q + m.c.Styles.Muted.Render("  (/ edit, esc clear)")
	}
	return ""
}

// Summary is the line above a filtered table: the filter, then how many of
// the total rows match.
func (m Model) Summary(shown, total int) string {
	return m.View() + m.c.Styles.Summary.Render("  "+strconv.Itoa(shown)+" of "+strconv.Itoa(total))
}

// ShortHelp implements help.KeyMap for the typing state.
func (m Model) ShortHelp() []key.Binding {
	apply := m.c.Keys.Submit
	apply.SetHelp("enter", "apply filter")
	drop := m.c.Keys.Back
	drop.SetHelp("esc", "clear filter")
	return []key.Binding{apply, drop}
}
