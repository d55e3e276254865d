// Package keymap defines every key binding of the Gatehouse TUI in one
// KeyMap. Pages copy it and switch bindings off with key.Binding.SetEnabled
// when they do not apply to the selected row; the help footer then hides
// them by itself, and key.Matches ignores them.
package keymap

import "github.com/charmbracelet/bubbles/key"

// KeyMap is the complete set of bindings. Its help.KeyMap methods cover the
// global bindings only; pages add their own.
type KeyMap struct {
	// Global. Command opens the ":" command line.
	NextPage, PrevPage, Home, GoToPage, Command, Help, Quit, Suspend key.Binding

	// Moving through tables and the details view.
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding

	// Lists: filter, open the selected row, go back or clear, sort by the
	// next column, reverse the sort.
	Filter, Open, Back, Sort, SortReverse key.Binding

	// Certificates.
	New, SuspendCert, Reactivate, Revoke key.Binding

	// Connections: disconnect the selected session.
	Kick key.Binding

	// Transports; on the home view, ToggleMQTTS, ToggleWSS and ToggleHTTPS
	// switch one transport each.
	ToggleAuth, ToggleMQTTS, ToggleWSS, ToggleHTTPS key.Binding

	// Trust.
	Export key.Binding

	// Dialogs and forms. ConfirmPurge confirms a revoke and purges the
	// certificate's retained messages too.
	Confirm, ConfirmPurge, Cancel, Submit, NextField, PrevField, Cycle key.Binding
}

// DefaultKeyMap returns the default bindings.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		NextPage: key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next view")),
		PrevPage: key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous view")),
		Home:     key.NewBinding(key.WithKeys("0", "h"), key.WithHelp("0/h", "home")),
		GoToPage: key.NewBinding(key.WithKeys("1", "2", "3", "4", "5", "6", "7"), key.WithHelp("1-7", "jump to view")),
		Command:  key.NewBinding(key.WithKeys(":"), key.WithHelp(":", "command")),
		Help:     key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:     key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		Suspend:  key.NewBinding(key.WithKeys("ctrl+z"), key.WithHelp("ctrl+z", "suspend")),

		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "b"), key.WithHelp("pgup/b", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "f"), key.WithHelp("pgdn/f", "page down")),
		Top:      key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g/home", "first")),
		Bottom:   key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G/end", "last")),

		Filter: key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Open:   key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "details")),
		Back:   key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),

		Sort:        key.NewBinding(key.WithKeys("o"), key.WithHelp("o", "sort by next column")),
		SortReverse: key.NewBinding(key.WithKeys("O"), key.WithHelp("O", "reverse sort")),

		New:         key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "new")),
		SuspendCert: key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "suspend")),
		Reactivate:  key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "reactivate")),
		Revoke:      key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "revoke")),

		Kick: key.NewBinding(key.WithKeys("k"), key.WithHelp("k", "kick (may reconnect)")),

		ToggleAuth:  key.NewBinding(key.WithKeys("m", " "), key.WithHelp("m/space", "toggle client-cert auth")),
		ToggleMQTTS: key.NewBinding(key.WithKeys("m"), key.WithHelp("m", "mqtts auth")),
		ToggleWSS:   key.NewBinding(key.WithKeys("w"), key.WithHelp("w", "wss auth")),
		ToggleHTTPS: key.NewBinding(key.WithKeys("H"), key.WithHelp("H", "https auth")),

		Export: key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "export ca.pem")),

		Confirm:      key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "yes")),
		ConfirmPurge: key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "yes, and purge retained messages")),
		Cancel:       key.NewBinding(key.WithKeys("n", "esc"), key.WithHelp("n/esc", "no")),
		Submit:       key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "submit")),
		NextField:    key.NewBinding(key.WithKeys("tab", "down"), key.WithHelp("tab/↓", "next field")),
		PrevField:    key.NewBinding(key.WithKeys("shift+tab", "up"), key.WithHelp("shift+tab/↑", "previous field")),
		Cycle:        key.NewBinding(key.WithKeys("left", "right"), key.WithHelp("←/→", "change")),
	}
}

// ShortHelp implements help.KeyMap with the global bindings. Tab is left
// to the full help: the tab bar already shows the views.
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Command, k.Help, k.Quit}
}

// FullHelp implements help.KeyMap with the global bindings.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{{k.NextPage, k.PrevPage, k.Home, k.GoToPage, k.Command, k.Help, k.Suspend, k.Quit}}
}
