// Package styles holds every lipgloss style of the Gatehouse TUI in one
// Styles struct, so a theme change is one edit and pages never build styles
// of their own.
//
// Colour is never the only carrier of meaning: every coloured state is also
// rendered as a word, because NO_COLOR=1 (and the golden tests) render with
// the Ascii profile, which drops colours and text attributes alike.
package styles

import (
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/lipgloss"
)

// Palette entries, as ANSI-256 codes. Plain colours rather than
// lipgloss.AdaptiveColor, because adaptive colours query the terminal's
// background, which can stall over SSH and inside tests.
const (
	red    = lipgloss.Color("196")
	green  = lipgloss.Color("42")
	yellow = lipgloss.Color("214")
	blue   = lipgloss.Color("39")
	grey   = lipgloss.Color("245")
	dim    = lipgloss.Color("240")
	accent = lipgloss.Color("212")
	bgSel  = lipgloss.Color("237")
)

// Styles are the styles of every part of the TUI.
type Styles struct {
	// Title is the top bar; TitleName the product name inside it.
	Title, TitleName lipgloss.Style
	// TabActive and TabInactive render the page tabs.
	TabActive, TabInactive lipgloss.Style

	// Header is a table's column header line; Cell an ordinary cell;
	// Selected is inherited by the cells of the cursor row.
	Header, Cell, Selected lipgloss.Style
	// Summary is the line above a table (counts, active filter).
	Summary lipgloss.Style
	// Muted is secondary text: placeholders, "never", hints.
	Muted lipgloss.Style

	// Certificate display states.
	StateInactive, StateActive, StateSuspended, StateRevoked, StateExpired lipgloss.Style
	// ExpiresSoon marks a certificate in use that expires within the warning window.
	ExpiresSoon lipgloss.Style

	// Good and Bad mark a safe or unsafe posture (TLS, client-cert auth).
	Good, Bad lipgloss.Style
	// Dropped strikes through a session that just went away; DroppedCause
	// renders why.
	Dropped, DroppedCause lipgloss.Style

	// Event types in the activity stream.
	EventConnected, EventDisconnected, EventRefused, EventOther lipgloss.Style

	// Dialog is the box of confirmations and forms; DialogTitle its heading.
	Dialog, DialogTitle lipgloss.Style
	// Label is a field name in details and forms.
	Label lipgloss.Style
	// Section heads a block inside the details view.
	Section lipgloss.Style
	// Chart draws the telemetry sparklines and charts.
	Chart lipgloss.Style

	// StatusInfo and StatusError render the status line; Tour the guided step.
	StatusInfo, StatusError, Tour lipgloss.Style
	// Help styles the key help footer.
	Help help.Styles
}

// DefaultStyles returns the default theme.
func DefaultStyles() *Styles {
	s := &Styles{}
	s.Title = lipgloss.NewStyle().Foreground(grey)
	s.TitleName = lipgloss.NewStyle().Bold(true).Foreground(accent)
	s.TabActive = lipgloss.NewStyle().Bold(true).Foreground(accent)
	s.TabInactive = lipgloss.NewStyle().Foreground(grey)

	s.Header = lipgloss.NewStyle().Bold(true).Foreground(grey)
	s.Cell = lipgloss.NewStyle()
	s.Selected = lipgloss.NewStyle().Bold(true).Background(bgSel)
	s.Summary = lipgloss.NewStyle().Foreground(grey)
	s.Muted = lipgloss.NewStyle().Foreground(dim)

	s.StateInactive = lipgloss.NewStyle().Foreground(blue)
	s.StateActive = lipgloss.NewStyle().Foreground(green)
	s.StateSuspended = lipgloss.NewStyle().Foreground(yellow)
	s.StateRevoked = lipgloss.NewStyle().Foreground(red)
	s.StateExpired = lipgloss.NewStyle().Foreground(red).Faint(true)
	s.ExpiresSoon = lipgloss.NewStyle().Foreground(yellow).Bold(true)

	s.Good = lipgloss.NewStyle().Foreground(green)
	s.Bad = lipgloss.NewStyle().Foreground(red).Bold(true)
	s.Dropped = lipgloss.NewStyle().Foreground(red).Strikethrough(true)
	s.DroppedCause = lipgloss.NewStyle().Foreground(red).Bold(true)

	s.EventConnected = lipgloss.NewStyle().Foreground(green)
	s.EventDisconnected = lipgloss.NewStyle().Foreground(yellow)
	s.EventRefused = lipgloss.NewStyle().Foreground(red)
	s.EventOther = lipgloss.NewStyle().Foreground(blue)

	s.Dialog = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(accent).Padding(0, 1)
	s.DialogTitle = lipgloss.NewStyle().Bold(true).Foreground(accent)
	s.Label = lipgloss.NewStyle().Foreground(grey)
	s.Section = lipgloss.NewStyle().Bold(true).Underline(true)
	s.Chart = lipgloss.NewStyle().Foreground(blue)

	s.StatusInfo = lipgloss.NewStyle().Foreground(green)
	s.StatusError = lipgloss.NewStyle().Foreground(red).Bold(true)
	s.Tour = lipgloss.NewStyle().Foreground(blue)

	key := lipgloss.NewStyle().Foreground(grey)
	desc := lipgloss.NewStyle().Foreground(dim)
	sep := lipgloss.NewStyle().Foreground(dim)
	s.Help = help.Styles{
		Ellipsis:       sep,
		ShortKey:       key,
		ShortDesc:      desc,
		ShortSeparator: sep,
		FullKey:        key,
		FullDesc:       desc,
		FullSeparator:  sep,
	}
	return s
}

// State returns the style of a certificate display state
// (store.Cert.DisplayState).
func (s *Styles) State(state string) lipgloss.Style {
	switch state {
	case "inactive":
		return s.StateInactive
	case "active":
		return s.StateActive
	case "suspended":
		return s.StateSuspended
	case "revoked":
		return s.StateRevoked
	case "expired":
		return s.StateExpired
	}
	return s.Cell
}
