// Package trust is the CA view: our root and issuing CAs and the CAs
// operators brought, and the export of ca.pem that clients need to verify
// the server.
package trust

import (
	"strings"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/ui/common"
	"github.com/gatehouse/gatehouse/ui/components/table"
	"github.com/gatehouse/gatehouse/ui/intent"
	"github.com/gatehouse/gatehouse/ui/keymap"
)

// DefaultExportPath is offered when the export prompt opens.
const DefaultExportPath = "./ca.pem"

// Page is the trust view. Create it with New.
type Page struct {
	c         common.Common
	keys      keymap.KeyMap
	table     table.Model
	cas       []store.CA
	path      textinput.Model
	exporting bool

	width, height int
}

// New returns an empty trust view.
func New(c common.Common) *Page {
	k := c.Keys
	p := &Page{c: c, keys: k}
	p.table = c.NewTable([]table.Column{
		{Title: "ROLE", Width: 8},
		{Title: "SUBJECT", Width: 16, Flex: true},
		{Title: "STRICT", Width: 6},
		{Title: "EXPIRES", Width: 16},
		{Title: "ID", Width: 8, Priority: 1},
	})
	p.path = textinput.New()
	p.path.Prompt = "export ca.pem to: "
	p.path.CharLimit = 512
	p.path.Cursor.SetMode(cursor.CursorStatic)
	p.SetSize(80, 20)
	return p
}

// SetSize implements common.Page.
func (p *Page) SetSize(width, height int) {
	p.width, p.height = width, height
	p.table.SetSize(width, height-3)
	p.path.Width = max(10, width-len(p.path.Prompt)-2)
}

// SetCAs replaces the CA list.
func (p *Page) SetCAs(cas []store.CA) {
	p.cas = cas
	p.table.SetLen(len(cas))
}

// Capturing implements common.Page: the export prompt reads a path.
func (p *Page) Capturing() bool { return p.exporting }

// Update implements common.Page.
func (p *Page) Update(msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	if p.exporting {
		switch {
		case key.Matches(k, p.keys.Submit):
			p.exporting = false
			p.path.Blur()
			path := strings.TrimSpace(p.path.Value())
			if path == "" {
				path = DefaultExportPath
			}
			return common.Emit(intent.Export{Path: path})
		case key.Matches(k, p.keys.Back):
			p.exporting = false
			p.path.Blur()
			return nil
		}
		var cmd tea.Cmd
		p.path, cmd = p.path.Update(k)
		return cmd
	}
	if key.Matches(k, p.keys.Export) {
		p.exporting = true
		p.path.SetValue(DefaultExportPath)
		p.path.CursorEnd()
		return p.path.Focus()
	}
	p.table, _ = p.table.Update(k)
	return nil
}

// View implements common.Page.
func (p *Page) View() string {
	st, now := p.c.Styles, p.c.Now()
	row := func(i int) table.Row {
		ca := p.cas[i]
		strict := "-"
		if ca.Role == store.RoleTrusted {
			strict = "no"
			if ca.Strict {
				strict = "yes"
			}
		}
		expires := ca.NotAfter.Local().Format("2006-01-02") + " " + common.Until(now, ca.NotAfter)
		return table.Row{Cells: []string{string(ca.Role), ca.Subject, strict, expires, common.ShortSerial(ca.ID)}}
	}
	prompt := st.Muted.Render("Clients need ca.pem (the root) to verify the server. Press e to export it.")
	if p.exporting {
		prompt = p.path.View()
	}
	out := st.Summary.Render(common.Plural(len(p.cas), "CA")) + "\n" + p.table.View(row) + "\n\n" + prompt
	return common.Fit(out, p.width, p.height)
}

// ShortHelp implements help.KeyMap.
func (p *Page) ShortHelp() []key.Binding {
	if p.exporting {
		submit, cancel := p.keys.Submit, p.keys.Back
		submit.SetHelp("enter", "export")
		cancel.SetHelp("esc", "cancel")
		return []key.Binding{submit, cancel}
	}
	return []key.Binding{p.keys.Export, p.keys.Up, p.keys.Down}
}

// FullHelp implements help.KeyMap.
func (p *Page) FullHelp() [][]key.Binding { return [][]key.Binding{p.ShortHelp()} }
