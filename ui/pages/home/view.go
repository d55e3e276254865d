package home

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/ui/common"
	"github.com/gatehouse/gatehouse/ui/components/table"
	"github.com/gatehouse/gatehouse/ui/termsafe"
)

// View implements common.Page.
func (p *Page) View() string {
	now := p.c.Now()
	var lines []string
	lines = append(lines, p.header(now)...)
	left := p.leftWidth()
	right := p.width - left - 3
	sessTitle := "Sessions, all certificates"
	if c, ok := p.selectedCert(); ok {
		sessTitle = "Sessions of " + termsafe.Clean(c.CN)
	}
	st := p.c.Styles
	leftPane := fit(st.Section.Render(fmt.Sprintf("Certificates (%d)", len(p.rows))), left) + "\n" + p.certs.View(p.certRow(now))
	rightPane := fit(st.Section.Render(fmt.Sprintf("%s (%d live)", sessTitle, len(p.sessions)-p.droppedCount())), right) +
		"\n" + p.sess.View(p.sessionRow(now))
	sep := strings.TrimSuffix(strings.Repeat(st.Muted.Render(" │ ")+"\n", p.paneHeight()), "\n")
	lines = append(lines, lipgloss.JoinHorizontal(lipgloss.Top,
		lipgloss.NewStyle().Width(left).Render(leftPane), sep, rightPane))
	lines = append(lines, p.promptLine())
	lines = append(lines, st.Section.Render("Recent activity"))
	lines = append(lines, p.strip()...)
	return common.Fit(strings.Join(lines, "\n"), p.width, p.height)
}

func (p *Page) droppedCount() int {
	n := 0
	for _, s := range p.sessions {
		if s.cause != "" {
			n++
		}
	}
	return n
}

// header is the posture of each transport and the counters: one line when
// wide enough, else two.
func (p *Page) header(now time.Time) []string {
	st := p.c.Styles
	var posture []string
	for _, t := range sortedTransports(p.st.Snapshot().Transports) {
		switch {
		case !t.TLS:
			posture = append(posture, st.Bad.Render(t.Name+" NO TLS"))
		case t.ClientAuth:
			posture = append(posture, st.Good.Render(t.Name+" cert auth on"))
		default:
			posture = append(posture, st.Bad.Render(t.Name+" cert auth OFF"))
		}
	}
	c := p.st.Counters(now)
	counters := fmt.Sprintf("%s · %s msg/s · %d refused/min · %d denied/min",
		common.Plural(c.Sessions, "session"), common.Number(c.MsgsPerSec), c.RefusedPerMin, c.DeniedPerMin)
	if c.DroppedPerMin > 0 { // messages lost to slow subscribers: shown only when it happens
		counters += " · " + common.Count(c.DroppedPerMin) + " dropped/min"
	}
	refused := st.Summary.Render(counters)
	pos := strings.Join(posture, st.Muted.Render(" · "))
	var lines []string
	if p.width >= 100 {
		lines = []string{pos + st.Muted.Render("   ") + refused}
	} else {
		lines = []string{pos, refused}
	}
	if c := p.st.Snapshot().Cluster; c != nil {
		style := st.Muted
		if c.Offline {
			style = st.Bad // the node serves what it last saw and refuses changes
		}
		lines = append(lines, style.Render(c.Line()))
	}
	return lines
}

func (p *Page) certRow(now time.Time) func(int) table.Row {
	st := p.c.Styles
	return func(i int) table.Row {
		if i == 0 {
			return table.Row{Cells: []string{"(all)", "", strconv.Itoa(len(p.st.Sessions()))},
				Styles: []lipgloss.Style{st.Muted}}
		}
		c := p.rows[i-1]
		state := c.DisplayState(now)
		expires, expStyle := common.Expiry(st, c, now)
		return table.Row{
			Cells:  []string{c.CN, state, strconv.Itoa(p.live[c.ID]), common.ShortSerial(c.Serial), expires},
			Styles: []lipgloss.Style{st.Cell, st.State(state), st.Cell, st.Cell, expStyle},
		}
	}
}

func (p *Page) sessionRow(now time.Time) func(int) table.Row {
	st := p.c.Styles
	return func(i int) table.Row {
		s := p.sessions[i]
		cn := s.CN
		if s.CertID == "" {
			cn = "anonymous" // no certificate: its own principal, bound to its remote IP
		}
		if s.cause != "" {
			// The cause takes the place of the transport and the address and
			// spans to the end, so it reads in full even at 80 columns.
			return table.Row{Cells: []string{s.ClientID, "✗ " + s.cause},
				Styles: []lipgloss.Style{st.Dropped, st.DroppedCause}}
		}
		return table.Row{Cells: []string{s.ClientID, s.Transport, s.Remote, cn,
			common.Duration(now.Sub(s.ConnectedAt)), common.Ago(now, s.LastActivity)}}
	}
}

// promptLine is the pending question, or a hint when there is none.
func (p *Page) promptLine() string {
	st := p.c.Styles
	if p.ask != nil {
		keys := "  y/n"
		if p.ask.purge != nil {
			keys = "  y/n · p: also purge retained"
		}
		return ansi.Truncate(st.StatusError.Render(p.ask.text)+st.Muted.Render(keys), p.width, "…")
	}
	return ""
}

// strip is the newest events, newest first, one line each.
func (p *Page) strip() []string {
	st := p.c.Styles
	n := p.stripRows()
	recent := p.st.Recent()
	lines := make([]string, 0, n)
	for i := len(recent) - 1; i >= 0 && len(lines) < n; i-- {
		e := recent[i]
		if e.Type == broker.EventResync {
			continue
		}
		who := e.CN
		if who == "" {
			who = e.ClientID
		}
		if who == "" {
			who = e.Remote
		}
		detail := joinNonEmpty(e.Transport, e.Reason)
		if e.Type == broker.EventDenied {
			detail = e.Reason // "publish TOPIC denied by rule r2": the topic is the device's, cleaned below
		}
		line := st.Muted.Render(e.At.Local().Format("15:04:05")) + " " +
			common.EventStyle(p.c.Styles, e.Type).Render(fmt.Sprintf("%-12s", e.Type)) + " " +
			fit(termsafe.Clean(who), 15) + " " + termsafe.Clean(detail)
		lines = append(lines, ansi.Truncate(line, p.width, "…"))
	}
	if len(lines) == 0 {
		lines = append(lines, st.Muted.Render("no activity yet"))
	}
	return lines
}

// fit pads or cuts a one-line string to w cells.
func fit(s string, w int) string {
	if ansi.StringWidth(s) > w {
		return ansi.Truncate(s, w, "…")
	}
	return s + strings.Repeat(" ", w-ansi.StringWidth(s))
}
