package table

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/muesli/termenv"
)

func TestMain(m *testing.M) {
	lipgloss.SetColorProfile(termenv.Ascii)
	os.Exit(m.Run())
}

func keys() KeyMap {
	return KeyMap{
		Up:       key.NewBinding(key.WithKeys("up")),
		Down:     key.NewBinding(key.WithKeys("down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup")),
		PageDown: key.NewBinding(key.WithKeys("pgdown")),
		Top:      key.NewBinding(key.WithKeys("home")),
		Bottom:   key.NewBinding(key.WithKeys("end")),
	}
}

func columns() []Column {
	return []Column{
		{Title: "ID", Width: 4},
		{Title: "NAME", Width: 6, Flex: true},
		{Title: "NOTE", Width: 10, Priority: 1},
		{Title: "STATE", Width: 8},
	}
}

func rows(i int) Row {
	if i == 2 {
		return Row{Cells: []string{"0002", "gone", "spans the rest of the row"}}
	}
	return Row{Cells: []string{fmt.Sprintf("%04d", i), fmt.Sprintf("name-%d", i), "a long note here", "active"}}
}

func TestViewGolden(t *testing.T) {
	for _, w := range []int{40, 30} {
		t.Run(fmt.Sprintf("width_%d", w), func(t *testing.T) {
			m := New(columns(), keys(), Styles{})
			m.SetSize(w, 5)
			m.SetLen(100)
			golden.RequireEqual(t, []byte(m.View(rows)))
		})
	}
}

func press(m Model, k tea.KeyType) Model {
	m, _ = m.Update(tea.KeyMsg{Type: k})
	return m
}

func TestNavigation(t *testing.T) {
	tests := map[string]struct {
		keys       []tea.KeyType
		cursor     int
		firstShown int
	}{
		"ok/down":               {[]tea.KeyType{tea.KeyDown}, 1, 0},
		"ok/up stops at top":    {[]tea.KeyType{tea.KeyUp, tea.KeyUp}, 0, 0},
		"ok/down scrolls":       {[]tea.KeyType{tea.KeyDown, tea.KeyDown, tea.KeyDown, tea.KeyDown}, 4, 1},
		"ok/page down":          {[]tea.KeyType{tea.KeyPgDown}, 4, 1},
		"ok/end":                {[]tea.KeyType{tea.KeyEnd}, 99, 96},
		"ok/end then page up":   {[]tea.KeyType{tea.KeyEnd, tea.KeyPgUp}, 95, 95},
		"ok/end then home":      {[]tea.KeyType{tea.KeyEnd, tea.KeyHome}, 0, 0},
		"ok/unbound key no-ops": {[]tea.KeyType{tea.KeyLeft}, 0, 0},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			m := New(columns(), keys(), Styles{})
			m.SetSize(40, 5) // header + 4 rows
			m.SetLen(100)
			for _, k := range tt.keys {
				m = press(m, k)
			}
			if m.Cursor() != tt.cursor || m.offset != tt.firstShown {
				t.Fatalf("cursor %d offset %d, want %d %d", m.Cursor(), m.offset, tt.cursor, tt.firstShown)
			}
			if !strings.Contains(m.View(rows), fmt.Sprintf("> %04d", tt.cursor)) {
				t.Fatalf("cursor row not marked:\n%s", m.View(rows))
			}
		})
	}
}

// Only the visible rows are ever built, however many there are.
func TestViewBuildsOnlyVisibleRows(t *testing.T) {
	m := New(columns(), keys(), Styles{})
	m.SetSize(80, 21)
	m.SetLen(10_000)
	m.SetCursor(5_000)
	built := 0
	m.View(func(i int) Row { built++; return rows(i) })
	if built != 20 {
		t.Fatalf("built %d rows, want 20", built)
	}
}

func TestSetLenKeepsCursorInRange(t *testing.T) {
	m := New(columns(), keys(), Styles{})
	m.SetLen(10)
	m.SetCursor(9)
	m.SetLen(3)
	if m.Cursor() != 2 {
		t.Fatalf("cursor %d, want 2", m.Cursor())
	}
	m.SetLen(0)
	if m.Cursor() != -1 {
		t.Fatalf("cursor %d on an empty table, want -1", m.Cursor())
	}
}

func BenchmarkView10k(b *testing.B) {
	m := New(columns(), keys(), Styles{Selected: lipgloss.NewStyle().Bold(true)})
	m.SetSize(120, 40)
	m.SetLen(10_000)
	m.SetCursor(7_000)
	for b.Loop() {
		m.View(rows)
	}
}

// A flex column grows up to its Max; a wide window does not stretch it.
func TestFlexStopsAtMax(t *testing.T) {
	cols := columns()
	cols[1].Max = 12
	m := New(cols, keys(), Styles{})
	m.SetSize(200, 5)
	m.SetLen(1)
	m.SetSort(1, false)
	header := strings.Split(m.View(func(int) Row { return Row{Cells: []string{"1", "a-name", "n", "ok"}} }), "\n")[0]
	if !strings.Contains(header, "NAME▲        NOTE") {
		t.Fatalf("header %q: want NAME (with its sort marker) 12 wide", header)
	}
}

// A table that only shows marks no row.
func TestHideCursor(t *testing.T) {
	m := New(columns(), keys(), Styles{})
	m.SetLen(2)
	m.HideCursor()
	if v := m.View(func(int) Row { return Row{Cells: []string{"1", "x", "", ""}} }); strings.Contains(v, ">") {
		t.Fatalf("hidden cursor drawn:\n%s", v)
	}
}
