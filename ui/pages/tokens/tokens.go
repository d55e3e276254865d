// Package tokens is the token subjects view: devices that authenticate with
// a JWT, acted on with the certificates view's lifecycle keys (s suspend,
// a reactivate, x revoke). The root shows it over the current view from the
// command line (:tokens); esc closes it.
package tokens

import (
	"strconv"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/ui/common"
	"github.com/gatehouse/gatehouse/ui/components/table"
	"github.com/gatehouse/gatehouse/ui/intent"
	"github.com/gatehouse/gatehouse/ui/keymap"
	"github.com/gatehouse/gatehouse/ui/termsafe"
)

// Page is the tokens view. Create it with New.
type Page struct {
	c       common.Common
	keys    keymap.KeyMap
	table   table.Model
	subs    []app.TokenSubjectView
	open    bool
	confirm string // the subject whose revoke waits for y/n

	width, height int
}

// New returns a closed, empty tokens view.
func New(c common.Common) *Page {
	p := &Page{c: c, keys: c.Keys}
	p.table = c.NewTable([]table.Column{
		{Title: "SUB", Width: 16, Flex: true},
		{Title: "STATE", Width: 9},
		{Title: "SESSIONS", Width: 8},
		{Title: "LAST SEEN", Width: 19, Priority: 1},
	})
	p.SetSize(80, 20)
	return p
}

// Open shows the view; the root draws it while it captures keys.
func (p *Page) Open() { p.open, p.confirm = true, "" }

// SetSize implements common.Page.
func (p *Page) SetSize(width, height int) {
	p.width, p.height = width, height
	p.table.SetSize(width, height-3)
}

// SetSubjects replaces the token subjects.
func (p *Page) SetSubjects(subs []app.TokenSubjectView) {
	p.subs = subs
	p.table.SetLen(len(subs))
}

// Capturing implements common.Page: while open, the view takes every key.
func (p *Page) Capturing() bool { return p.open }

// selected is the subject under the cursor, or "".
func (p *Page) selected() string {
	if i := p.table.Cursor(); i >= 0 && i < len(p.subs) {
		return p.subs[i].Subject
	}
	return ""
}

// Update implements common.Page.
func (p *Page) Update(msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	if p.confirm != "" {
		sub := p.confirm
		switch {
		case key.Matches(k, p.keys.Confirm):
			p.confirm = ""
			return common.Emit(intent.TokenTransition{Ref: sub, To: store.StateRevoked})
		case key.Matches(k, p.keys.Cancel):
			p.confirm = ""
		}
		return nil
	}
	sub := p.selected()
	switch {
	case key.Matches(k, p.keys.Back):
		p.open = false
	case sub == "":
	case key.Matches(k, p.keys.SuspendCert):
		return common.Emit(intent.TokenTransition{Ref: sub, To: store.StateSuspended})
	case key.Matches(k, p.keys.Reactivate):
		return common.Emit(intent.TokenTransition{Ref: sub, To: store.StateActive})
	case key.Matches(k, p.keys.Revoke):
		p.confirm = sub
	default:
		p.table, _ = p.table.Update(k)
	}
	return nil
}

// View implements common.Page.
func (p *Page) View() string {
	st := p.c.Styles
	row := func(i int) table.Row {
		s := p.subs[i]
		last := "never"
		if !s.LastSeen.IsZero() {
			last = s.LastSeen.Local().Format("2006-01-02 15:04:05")
		}
		return table.Row{Cells: []string{s.Subject, string(s.State), strconv.Itoa(s.Sessions), last}}
	}
	prompt := st.Muted.Render("Devices with a JWT (gatehouse token create). s suspend · a reactivate · x revoke · esc close")
	if p.confirm != "" {
		prompt = st.StatusError.Render("revoke token subject "+termsafe.Clean(p.confirm)+"? final; its tokens are refused") + st.Muted.Render("  y/n")
	}
	out := st.Summary.Render(common.Plural(len(p.subs), "token subject")) + "\n" + p.table.View(row) + "\n\n" + prompt
	return common.Fit(out, p.width, p.height)
}

// ShortHelp implements help.KeyMap.
func (p *Page) ShortHelp() []key.Binding {
	if p.confirm != "" {
		return []key.Binding{p.keys.Confirm, p.keys.Cancel}
	}
	return []key.Binding{p.keys.SuspendCert, p.keys.Reactivate, p.keys.Revoke, p.keys.Back, p.keys.Up, p.keys.Down}
}

// FullHelp implements help.KeyMap.
func (p *Page) FullHelp() [][]key.Binding { return [][]key.Binding{p.ShortHelp()} }
