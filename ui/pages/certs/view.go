package certs

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/ui/common"
	"github.com/gatehouse/gatehouse/ui/components/table"
	"github.com/gatehouse/gatehouse/ui/termsafe"
)

// row formats certificate i of the filtered list; the table calls it only
// for visible rows.
func (p *Page) row(now time.Time) func(int) table.Row {
	cell := p.c.Styles.Cell
	return func(i int) table.Row {
		c := p.certs[p.shown[i]]
		state := c.DisplayState(now)
		expires, expStyle := common.Expiry(p.c.Styles, c, now)
		return table.Row{
			Cells: []string{
				common.ShortSerial(c.Serial), c.CN, state, expires,
				strconv.Itoa(p.live[c.ID]), common.Ago(now, c.LastSeen),
			},
			Styles: []lipgloss.Style{cell, cell, p.c.Styles.State(state), expStyle},
		}
	}
}

func (p *Page) confirmView() string {
	c := p.target
	body := fmt.Sprintf("Revoke %s (%s)?\n\nThis is final: a revoked certificate can never be reactivated.\n\n%s.\nPurge the retained messages it published too?",
		termsafe.Clean(c.CN), common.ShortSerial(c.Serial), dropPhrase(p.live[c.ID]))
	return p.c.Dialog(p.width, p.height, "Revoke certificate", body, "y revoke · p revoke and purge · n/esc cancel")
}

func dropPhrase(n int) string {
	if n == 0 {
		return "No live sessions will be dropped"
	}
	return common.Plural(n, "live session") + " will be dropped"
}

// refreshDetails rebuilds the details text. It runs whenever its inputs
// change, because the viewport needs the content to scroll.
func (p *Page) refreshDetails() {
	if p.mode != modeDetails {
		return
	}
	c, ok := p.Selected()
	if !ok {
		p.setMode(modeList)
		return
	}
	p.vp.SetContent(p.detailsText(c, p.c.Now()))
}

func (p *Page) detailsText(c store.Cert, now time.Time) string {
	s := p.c.Styles
	label := func(name, value string) string {
		return s.Label.Render(fmt.Sprintf("%-12s", name)) + " " + value
	}
	state := c.DisplayState(now)
	since := ""
	if !c.StateChangedAt.IsZero() {
		since = " since " + common.Timestamp(c.StateChangedAt)
	}
	if c.Reason != "" {
		since += " (" + termsafe.Clean(c.Reason) + ")"
	}
	sans := termsafe.Clean(strings.Join(c.SANs, ", "))
	if sans == "" {
		sans = "none"
	}
	validity := common.Timestamp(c.NotBefore) + " → " + common.Timestamp(c.NotAfter)
	if c.Expired(now) {
		validity += " (expired " + common.Duration(now.Sub(c.NotAfter)) + " ago)"
	} else {
		validity += " (expires in " + common.Duration(c.NotAfter.Sub(now)) + ")"
	}
	lines := []string{
		s.Section.Render("Certificate "+termsafe.Clean(c.CN)) + s.Muted.Render("   esc back"),
		label("Serial", c.Serial),
		label("Subject CN", termsafe.Clean(c.CN)),
		label("SANs", sans),
		label("Issuer", termsafe.Clean(c.Issuer)),
		label("Fingerprint", c.Fingerprint),
		label("Validity", validity),
		label("Key type", c.KeyType),
		label("Source", string(c.Source)+", added "+common.Timestamp(c.CreatedAt)),
		label("State", s.State(state).Render(state)+since),
		label("Last seen", common.Ago(now, c.LastSeen)),
		"",
	}
	var live, gone []string
	for _, ss := range p.sessions {
		if ss.CertID == c.ID {
			live = append(live, fmt.Sprintf("  %-24s %-5s %-21s %s", termsafe.Clean(ss.ClientID), ss.Transport, ss.Remote,
				common.Duration(now.Sub(ss.ConnectedAt))))
		}
	}
	for _, d := range p.st.Dropped() {
		if d.CertID == c.ID {
			gone = append(gone, "  "+s.Dropped.Render(fmt.Sprintf("%-24s %-5s %-21s", termsafe.Clean(d.ClientID), d.Transport, d.Remote))+
				" "+s.DroppedCause.Render("✗ "+termsafe.Clean(d.Cause)))
		}
	}
	lines = append(lines, s.Section.Render(fmt.Sprintf("Live sessions (%d)", len(live))))
	lines = append(lines, gone...)
	lines = append(lines, live...)
	if p.rightsFor == c.ID {
		lines = append(lines, "", s.Section.Render("Rights (policy)"))
		for _, r := range p.rights {
			lines = append(lines, "  "+r)
		}
	}
	lines = append(lines, "", s.Section.Render("History"))
	switch {
	case p.historyErr != nil:
		lines = append(lines, s.StatusError.Render("  error: "+p.historyErr.Error()))
	case p.historyFor != c.ID:
		lines = append(lines, s.Muted.Render("  loading…"))
	case len(p.history) == 0:
		lines = append(lines, s.Muted.Render("  no records"))
	}
	if p.historyFor == c.ID {
		for _, r := range p.history {
			lines = append(lines, "  "+historyLine(r))
		}
	}
	return strings.Join(lines, "\n")
}

func historyLine(r store.AuditRecord) string {
	l := fmt.Sprintf("%s  %-15s %-10s", common.Timestamp(r.At), r.Action, r.Actor)
	if r.From != "" || r.To != "" {
		l += fmt.Sprintf(" %s → %s", orDash(string(r.From)), orDash(string(r.To)))
	}
	if r.Reason != "" {
		l += "  " + termsafe.Clean(r.Reason)
	}
	if r.Dropped > 0 {
		l += ", dropped " + common.Plural(r.Dropped, "session")
	}
	return l
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ShortHelp implements help.KeyMap for the current mode.
func (p *Page) ShortHelp() []key.Binding {
	k := p.keys
	switch {
	case p.mode == modeConfirm:
		return []key.Binding{k.Confirm, k.ConfirmPurge, k.Cancel}
	case p.mode == modeForm:
		return p.form.help()
	case p.mode == modeCreated:
		return []key.Binding{key.NewBinding(key.WithKeys("enter", "esc"), key.WithHelp("enter/esc", "close"))}
	case p.mode == modeDetails:
		return []key.Binding{k.Back, k.SuspendCert, k.Reactivate, k.Revoke, k.Down}
	case p.filter.Typing():
		return p.filter.ShortHelp()
	}
	return []key.Binding{k.Open, k.New, k.SuspendCert, k.Reactivate, k.Revoke, k.Filter, k.Back}
}

// FullHelp implements help.KeyMap for the current mode.
func (p *Page) FullHelp() [][]key.Binding {
	if p.mode != modeList || p.filter.Typing() {
		return [][]key.Binding{p.ShortHelp()}
	}
	return append(p.table.KeyMap.FullHelp(),
		[]key.Binding{p.keys.Open, p.keys.Filter, p.keys.Back, p.keys.Sort, p.keys.SortReverse},
		[]key.Binding{p.keys.New, p.keys.SuspendCert, p.keys.Reactivate, p.keys.Revoke})
}

// updateDetails handles keys in the details view: back, the lifecycle
// actions on the certificate shown, and scrolling.
func (p *Page) updateDetails(k tea.KeyMsg) tea.Cmd {
	if key.Matches(k, p.keys.Back) {
		p.setMode(modeList)
		return nil
	}
	if key.Matches(k, p.keys.New) {
		return nil // creating from inside the details would lose the operator's place
	}
	if cmd, ok := p.action(k); ok {
		return cmd
	}
	var cmd tea.Cmd
	p.vp, cmd = p.vp.Update(k)
	return cmd
}
