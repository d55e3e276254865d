// Package cluster is the cluster view: the nodes sharing the store in etcd
// with their listeners, sessions, last heartbeat and watch lag, and etcd's
// endpoints. The root shows it over the current view from the command line
// (:cluster) and hands it the status it fetched; esc closes it.
package cluster

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/ui/common"
	"github.com/gatehouse/gatehouse/ui/components/table"
	"github.com/gatehouse/gatehouse/ui/keymap"
	"github.com/gatehouse/gatehouse/ui/termsafe"
)

// Page is the cluster view. Create it with New.
type Page struct {
	c      common.Common
	keys   keymap.KeyMap
	table  table.Model
	status *app.ClusterStatus // nil until the first answer
	err    error
	open   bool

	width, height int
}

// New returns a closed, empty cluster view.
func New(c common.Common) *Page {
	p := &Page{c: c, keys: c.Keys}
	p.table = c.NewTable([]table.Column{
		{Title: "NODE", Width: 12, Flex: true},
		{Title: "SESSIONS", Width: 8},
		{Title: "LAG", Width: 5},
		{Title: "HEARTBEAT", Width: 9},
		{Title: "LISTENERS", Width: 24, Flex: true, Priority: 1},
	})
	p.SetSize(80, 20)
	return p
}

// Open shows the view; the root draws it while it captures keys.
func (p *Page) Open() { p.open = true }

// IsOpen reports whether the view is shown (the root refreshes it then).
func (p *Page) IsOpen() bool { return p.open }

// SetSize implements common.Page.
func (p *Page) SetSize(width, height int) {
	p.width, p.height = width, height
	p.table.SetSize(width, height-6)
}

// SetStatus replaces the status shown, or shows why it could not be read.
func (p *Page) SetStatus(st app.ClusterStatus, err error) {
	p.err = err
	if err != nil {
		return
	}
	p.status = &st
	p.table.SetLen(len(st.Nodes))
}

// Capturing implements common.Page: while open, the view takes every key.
func (p *Page) Capturing() bool { return p.open }

// Update implements common.Page.
func (p *Page) Update(msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	if key.Matches(k, p.keys.Back) {
		p.open = false
		return nil
	}
	p.table, _ = p.table.Update(k)
	return nil
}

// View implements common.Page.
func (p *Page) View() string {
	st := p.c.Styles
	var lines []string
	switch s := p.status; {
	case p.err != nil:
		lines = append(lines, st.StatusError.Render("cluster status: "+termsafe.Clean(p.err.Error())))
	case s == nil:
		lines = append(lines, st.Muted.Render("asking the node for the cluster status…"))
	case s.Standalone:
		lines = append(lines, st.Summary.Render("standalone (bbolt store "+termsafe.Clean(s.Store)+")"))
	default:
		posture := st.Summary
		if s.Posture.Offline {
			posture = st.Bad
		}
		lines = append(lines, posture.Render(s.Posture.Line()),
			st.Muted.Render(fmt.Sprintf("%s · etcd head revision %d", common.Plural(len(s.Nodes), "node"), s.Head)))
	}
	now := p.c.Now()
	row := func(i int) table.Row {
		n := p.status.Nodes[i]
		return table.Row{Cells: []string{termsafe.Clean(n.Name), strconv.Itoa(n.Sessions), strconv.FormatInt(n.Lag, 10),
			common.Ago(now, n.Heartbeat), termsafe.Clean(strings.Join(n.Addrs, " "))}}
	}
	if p.status != nil && !p.status.Standalone {
		lines = append(lines, p.table.View(row))
		var eps []string
		for _, e := range p.status.Endpoints {
			health := st.Good.Render("healthy")
			if !e.Healthy {
				health = st.Bad.Render("unreachable")
			}
			eps = append(eps, termsafe.Clean(e.URL)+" "+health)
		}
		lines = append(lines, "", st.Muted.Render("etcd: ")+strings.Join(eps, st.Muted.Render(" · ")))
	}
	lines = append(lines, "", st.Muted.Render("Nodes sharing the store in etcd (gatehouse cluster status). esc close"))
	return common.Fit(strings.Join(lines, "\n"), p.width, p.height)
}

// ShortHelp implements help.KeyMap.
func (p *Page) ShortHelp() []key.Binding {
	return []key.Binding{p.keys.Back, p.keys.Up, p.keys.Down}
}

// FullHelp implements help.KeyMap.
func (p *Page) FullHelp() [][]key.Binding { return [][]key.Binding{p.ShortHelp()} }
