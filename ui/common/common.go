// Package common holds what the root model and every page share: the styles,
// the key map, the clock, the Page contract and small
// formatting helpers. It sits below the pages so they never import the root
// package.
package common

import (
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/gatehouse/gatehouse/ui/components/table"
	"github.com/gatehouse/gatehouse/ui/keymap"
	"github.com/gatehouse/gatehouse/ui/styles"
)

// Common is handed to every page at construction.
type Common struct {
	// Styles is shared and never mutated after start.
	Styles *styles.Styles
	// Keys is copied by each page, which may disable bindings on its copy.
	Keys keymap.KeyMap
	// Clock returns the current time. Tests pin it so that "expires in" and
	// "connected for" render the same on every run.
	Clock func() time.Time
}

// NewTable returns a table with the shared navigation keys and styles, so
// every page's table moves and looks the same.
func (c Common) NewTable(cols []table.Column) table.Model {
	k := c.Keys
	return table.New(cols,
		table.KeyMap{Up: k.Up, Down: k.Down, PageUp: k.PageUp, PageDown: k.PageDown, Top: k.Top, Bottom: k.Bottom},
		table.Styles{Header: c.Styles.Header, Cell: c.Styles.Cell, Selected: c.Styles.Selected})
}

// Now returns the time of the injected clock.
func (c Common) Now() time.Time { return c.Clock() }

// Page is the view behind one tab. Pages are pointers; the root model calls
// their methods only from its own Update and View, so a page never needs a
// lock. A page asks for backend work by returning a command that yields an
// intent message, which the root turns into a Backend call.
type Page interface {
	help.KeyMap
	// Update handles a key or a page-specific message.
	Update(msg tea.Msg) tea.Cmd
	// View renders the page into exactly the size given by SetSize.
	View() string
	// SetSize is the page's share of the window-size fan-out.
	SetSize(width, height int)
	// Capturing reports whether the page is reading text or showing a
	// dialog; the root then passes every key (even q and 0..7) to the page.
	Capturing() bool
}

// Emit returns a command that yields msg. Pages use it to hand an intent to
// the root without touching the backend themselves.
func Emit(msg tea.Msg) tea.Cmd { return func() tea.Msg { return msg } }

// Dialog renders a bordered box with a title, a body and a hint line,
// centred in a width x height area. Confirmations and forms use it so that
// they look alike on every page.
func (c Common) Dialog(width, height int, title, body, hint string) string {
	inner := min(width-4, 64) // the border and padding take 4
	wrap := lipgloss.NewStyle().Width(inner)
	parts := []string{wrap.Render(c.Styles.DialogTitle.Render(title)), ""}
	parts = append(parts, wrap.Render(body))
	if hint != "" {
		parts = append(parts, "", wrap.Render(c.Styles.Muted.Render(hint)))
	}
	box := c.Styles.Dialog.Render(strings.Join(parts, "\n"))
	return lipgloss.Place(width, height, lipgloss.Center, lipgloss.Center, box)
}

// Bounds returns the minimum and maximum of values; both are zero for none.
func Bounds(values []float64) (lo, hi float64) {
	for i, v := range values {
		if i == 0 || v < lo {
			lo = v
		}
		if i == 0 || v > hi {
			hi = v
		}
	}
	return lo, hi
}
