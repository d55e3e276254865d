// Package table is a cursor-and-viewport table in the shape of bubbles/table
// (KeyMap implementing help.KeyMap, Styles, a concrete Update, a golden-tested
// View) with two differences the Gatehouse views need:
//
//   - rows are supplied on demand by a function, so with 10,000 certificates
//     only the twenty-odd visible rows are ever formatted;
//   - cells carry their own style (state colours, struck-through drops),
//     which bubbles/table cannot do because it truncates styled strings;
//   - cells are plain text, made terminal-safe here (termsafe.Clean), so a
//     CN or client id a device chose can never move the cursor or recolour
//     the screen.
//
// The cursor row is marked with "> " in a gutter as well as with the
// Selected style, so it stays visible without colour (NO_COLOR=1).
package table

import (
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/gatehouse/gatehouse/ui/termsafe"
)

// Column is one column of the table.
type Column struct {
	Title string
	// Width is the fixed width, or the minimum width of the Flex column.
	Width int
	// Flex makes the column take the width left over by the others, up to
	// Max when it is set, so a wide window does not stretch a name column
	// across half the screen.
	Flex bool
	Max  int
	// Priority 0 is always shown; when the window is too narrow, columns
	// with the highest priority are hidden first.
	Priority int
}

// Row is one rendered row. A row with fewer cells than columns lets its last
// cell span the remaining columns (used for the cause of a dropped session).
type Row struct {
	Cells []string
	// Styles holds a style per cell; a missing entry means Styles.Cell.
	Styles []lipgloss.Style
}

// KeyMap holds the bindings the table reacts to.
type KeyMap struct {
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding
}

// ShortHelp implements help.KeyMap.
func (k KeyMap) ShortHelp() []key.Binding { return []key.Binding{k.Up, k.Down} }

// FullHelp implements help.KeyMap.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom}}
}

// Styles are the table's styles.
type Styles struct {
	Header, Cell, Selected lipgloss.Style
}

const gutter = 2 // "> " before the cursor row

// Model is the table state: columns, the row count, cursor and scroll offset.
type Model struct {
	// KeyMap is exported so pages can show it in their help.
	KeyMap KeyMap

	styles        Styles
	cols          []Column
	widths        []int // per column; 0 = hidden
	n             int
	cursor        int
	offset        int
	width, height int
	sortCol       int // column whose title carries the sort marker; -1 none
	sortDesc      bool
	noCursor      bool // a list shown beside another: no row is marked
}

// New returns a table with the given columns.
func New(cols []Column, km KeyMap, st Styles) Model {
	m := Model{KeyMap: km, styles: st, cols: cols, width: 80, height: 10, sortCol: -1}
	m.layout()
	return m
}

// SetSize sets the size including the header line.
func (m *Model) SetSize(width, height int) {
	m.width, m.height = width, max(height, 2)
	m.layout()
	m.clamp()
}

// SetSort marks column col (-1: none) as the sort key in the header, with
// ▲ for ascending and ▼ for descending. Sorting the rows is the caller's.
func (m *Model) SetSort(col int, desc bool) { m.sortCol, m.sortDesc = col, desc }

// HideCursor stops marking the cursor row, for a table that only shows
// (the home view's sessions beside its certificates).
func (m *Model) HideCursor() { m.noCursor = true }

// SetLen sets the number of rows, keeping the cursor in range.
func (m *Model) SetLen(n int) {
	m.n = n
	m.clamp()
}

// Len returns the number of rows.
func (m Model) Len() int { return m.n }

// Cursor returns the index of the selected row; -1 when the table is empty.
func (m Model) Cursor() int {
	if m.n == 0 {
		return -1
	}
	return m.cursor
}

// SetCursor selects row i.
func (m *Model) SetCursor(i int) {
	m.cursor = i
	m.clamp()
}

// Update moves the cursor on navigation keys.
func (m Model) Update(msg tea.Msg) (Model, tea.Cmd) {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return m, nil
	}
	page := m.visible()
	switch {
	case key.Matches(k, m.KeyMap.Up):
		m.cursor--
	case key.Matches(k, m.KeyMap.Down):
		m.cursor++
	case key.Matches(k, m.KeyMap.PageUp):
		m.cursor -= page
	case key.Matches(k, m.KeyMap.PageDown):
		m.cursor += page
	case key.Matches(k, m.KeyMap.Top):
		m.cursor = 0
	case key.Matches(k, m.KeyMap.Bottom):
		m.cursor = m.n - 1
	}
	m.clamp()
	return m, nil
}

// View renders the header and the visible rows, padded to the full height.
// row is called only for the visible indices.
func (m Model) View(row func(i int) Row) string {
	lines := make([]string, 0, m.height)
	lines = append(lines, m.header())
	end := min(m.n, m.offset+m.visible())
	for i := m.offset; i < end; i++ {
		lines = append(lines, m.renderRow(row(i), i == m.cursor && !m.noCursor))
	}
	for len(lines) < m.height {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

func (m Model) visible() int { return m.height - 1 }

func (m *Model) clamp() {
	m.cursor = max(0, min(m.cursor, m.n-1))
	page := m.visible()
	if m.cursor < m.offset {
		m.offset = m.cursor
	}
	if m.cursor >= m.offset+page {
		m.offset = m.cursor - page + 1
	}
	m.offset = max(0, min(m.offset, m.n-page))
}

// layout hides columns by priority until the table fits, then gives the
// flex column what is left.
func (m *Model) layout() {
	m.widths = make([]int, len(m.cols))
	for i, c := range m.cols {
		m.widths[i] = c.Width
	}
	for m.total() > m.width {
		drop := -1
		for i, c := range m.cols {
			if m.widths[i] > 0 && c.Priority > 0 && (drop < 0 || c.Priority >= m.cols[drop].Priority) {
				drop = i
			}
		}
		if drop < 0 {
			break
		}
		m.widths[drop] = 0
	}
	for i, c := range m.cols {
		if c.Flex && m.widths[i] > 0 {
			m.widths[i] += max(0, m.width-m.total())
			if c.Max > 0 {
				m.widths[i] = max(c.Width, min(m.widths[i], c.Max))
			}
		}
	}
}

func (m Model) total() int {
	t, shown := gutter, 0
	for _, w := range m.widths {
		if w > 0 {
			t += w
			shown++
		}
	}
	return t + max(0, shown-1)
}

func (m Model) header() string {
	cells := make([]string, 0, len(m.cols))
	for i, c := range m.cols {
		if m.widths[i] > 0 {
			title := c.Title
			if i == m.sortCol {
				title += map[bool]string{false: "▲", true: "▼"}[m.sortDesc]
			}
			cells = append(cells, fit(title, m.widths[i]))
		}
	}
	return m.styles.Header.Render(strings.Repeat(" ", gutter) + strings.Join(cells, " "))
}

func (m Model) renderRow(r Row, selected bool) string {
	var b strings.Builder
	sep := " "
	if selected {
		b.WriteString(m.styles.Selected.Render("> "))
		sep = m.styles.Selected.Render(" ")
	} else {
		b.WriteString("  ")
	}
	first := true
	for i := 0; i < len(r.Cells) && i < len(m.cols); i++ {
		w := m.widths[i]
		if i == len(r.Cells)-1 {
			w = m.span(i)
		}
		if w == 0 {
			continue
		}
		st := m.styles.Cell
		if i < len(r.Styles) {
			st = r.Styles[i]
		}
		if selected {
			st = st.Inherit(m.styles.Selected)
		}
		if !first {
			b.WriteString(sep)
		}
		first = false
		b.WriteString(st.Render(fit(termsafe.Clean(r.Cells[i]), w)))
	}
	return b.String()
}

// span is the width of column i plus every visible column after it.
func (m Model) span(i int) int {
	w := 0
	for _, cw := range m.widths[i:] {
		if cw > 0 {
			if w > 0 {
				w++
			}
			w += cw
		}
	}
	return w
}

// fit truncates or pads s to exactly w cells.
func fit(s string, w int) string {
	if sw := ansi.StringWidth(s); sw > w {
		return ansi.Truncate(s, w, "…")
	} else if sw < w {
		return s + strings.Repeat(" ", w-sw)
	}
	return s
}

// NextSort is the sort order after (col, desc) when the operator asks for the
// next one: reverse flips the direction; otherwise the column after col in
// cols, ascending, and after the last one -1, the list's own order.
func NextSort(cols []int, col int, desc, reverse bool) (int, bool) {
	if reverse {
		return col, !desc
	}
	if i := slices.Index(cols, col); i+1 < len(cols) {
		return cols[i+1], false
	}
	return -1, false
}
