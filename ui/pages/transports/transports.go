// Package transports is the listeners view: address, TLS and client-cert
// auth per transport, with the toggle that switches auth on or off. Unsafe
// postures are red and spelled out, because that is the point of the view.
package transports

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/ui/common"
	"github.com/gatehouse/gatehouse/ui/components/table"
	"github.com/gatehouse/gatehouse/ui/intent"
	"github.com/gatehouse/gatehouse/ui/keymap"
)

// Page is the transports view. Create it with New.
type Page struct {
	c          common.Common
	keys       keymap.KeyMap
	table      table.Model
	transports []broker.TransportInfo
	count      map[string]int // live sessions per transport
	anonymous  map[string]int // ... of which without a client certificate
	confirm    *intent.Toggle
	posture    string // the authorization posture, from the policy
	open       bool   // every device may use every topic

	width, height int
}

// New returns an empty transports view.
func New(c common.Common) *Page {
	k := c.Keys
	p := &Page{c: c, keys: k, count: map[string]int{}, anonymous: map[string]int{}}
	p.table = c.NewTable([]table.Column{
		{Title: "TRANSPORT", Width: 9},
		{Title: "ADDRESS", Width: 14, Flex: true},
		{Title: "TLS", Width: 6},
		{Title: "CLIENT-CERT AUTH", Width: 16},
		{Title: "CONNECTED", Width: 9},
	})
	p.SetSize(80, 20)
	p.afterMove()
	return p
}

// SetSize implements common.Page.
func (p *Page) SetSize(width, height int) {
	p.width, p.height = width, height
	p.table.SetSize(width, min(len(p.transports)+1, max(2, height-6)))
}

// SetPosture sets the authorization posture shown under the listeners; open
// marks a policy that lets every device use every topic, shown in red.
func (p *Page) SetPosture(text string, open bool) { p.posture, p.open = text, open }

// SetData replaces the listeners and the sessions counted per listener.
func (p *Page) SetData(transports []broker.TransportInfo, sessions []broker.Session) {
	p.transports = transports
	clear(p.count)
	clear(p.anonymous)
	for _, s := range sessions {
		p.count[s.Transport]++
		if s.CertID == "" {
			p.anonymous[s.Transport]++
		}
	}
	p.table.SetLen(len(transports))
	p.SetSize(p.width, p.height)
	p.afterMove()
}

func (p *Page) selected() (broker.TransportInfo, bool) {
	i := p.table.Cursor()
	if i < 0 {
		return broker.TransportInfo{}, false
	}
	return p.transports[i], true
}

// afterMove enables the toggle only on a TLS transport: plain MQTT has no
// client certificates to ask for.
func (p *Page) afterMove() {
	t, ok := p.selected()
	p.keys.ToggleAuth.SetEnabled(ok && t.TLS)
}

// Capturing implements common.Page: the confirmation reads y/n.
func (p *Page) Capturing() bool { return p.confirm != nil }

// Update implements common.Page.
func (p *Page) Update(msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	if p.confirm != nil {
		switch {
		case key.Matches(k, p.keys.Confirm):
			intent := *p.confirm
			p.confirm = nil
			return common.Emit(intent)
		case key.Matches(k, p.keys.Cancel):
			p.confirm = nil
		}
		return nil
	}
	if key.Matches(k, p.keys.ToggleAuth) {
		t, _ := p.selected()
		p.confirm = &intent.Toggle{Transport: t.Name, On: !t.ClientAuth}
		return nil
	}
	p.table, _ = p.table.Update(k)
	p.afterMove()
	return nil
}

// View implements common.Page.
func (p *Page) View() string {
	if p.confirm != nil {
		return common.Fit(p.confirmView(), p.width, p.height)
	}
	st := p.c.Styles
	row := func(i int) table.Row {
		t := p.transports[i]
		tls, auth := st.Good, st.Good
		tlsWord, authWord := "yes", "on"
		switch {
		case !t.TLS:
			tls, tlsWord, auth, authWord = st.Bad, "no TLS", st.Muted, "n/a"
		case !t.ClientAuth:
			auth, authWord = st.Bad, "off"
		}
		return table.Row{
			Cells:  []string{t.Name, t.Addr, tlsWord, authWord, strconv.Itoa(p.count[t.Name])},
			Styles: []lipgloss.Style{st.Cell, st.Cell, tls, auth},
		}
	}
	lines := []string{st.Summary.Render(common.Plural(len(p.transports), "listener")), p.table.View(row), ""}
	for _, t := range p.transports {
		switch {
		case !t.TLS:
			lines = append(lines, st.Bad.Render(fmt.Sprintf("! %s %s: no TLS: traffic is plaintext and any client may connect", t.Name, t.Addr)))
		case !t.ClientAuth:
			lines = append(lines, st.Bad.Render(fmt.Sprintf("! %s %s: client-cert auth off: one-way TLS: any client may connect", t.Name, t.Addr)))
		}
	}
	switch {
	case p.open:
		lines = append(lines, st.Bad.Render("! "+p.posture+" (Policy view, key 7)"))
	case p.posture != "":
		lines = append(lines, st.Muted.Render(p.posture+": rules decide what each client may publish and subscribe (Policy view, key 7)"))
	}
	return common.Fit(strings.Join(lines, "\n"), p.width, p.height)
}

func (p *Page) confirmView() string {
	c := p.confirm
	var body string
	if c.On {
		n := p.anonymous[c.Transport]
		drop := "No connected clients will be dropped: all present a certificate."
		if n > 0 {
			drop = common.Plural(n, "connected client") + " without a certificate will be dropped."
		}
		body = fmt.Sprintf("Switch client-cert auth ON for %s?\n\nOnly clients with a valid, active certificate may connect.\n\n%s", c.Transport, drop)
	} else {
		body = fmt.Sprintf("Switch client-cert auth OFF for %s?\n\nOne-way TLS: any client may then connect without a certificate.\n\nNo connected clients will be dropped.", c.Transport)
	}
	return p.c.Dialog(p.width, p.height, "Client-cert auth", body, "y switch · n/esc cancel")
}

// ShortHelp implements help.KeyMap.
func (p *Page) ShortHelp() []key.Binding {
	if p.confirm != nil {
		return []key.Binding{p.keys.Confirm, p.keys.Cancel}
	}
	return []key.Binding{p.keys.ToggleAuth, p.keys.Up, p.keys.Down}
}

// FullHelp implements help.KeyMap.
func (p *Page) FullHelp() [][]key.Binding { return [][]key.Binding{p.ShortHelp()} }
