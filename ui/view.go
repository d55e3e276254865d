package ui

import (
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/x/ansi"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/ui/common"
	"github.com/gatehouse/gatehouse/ui/keymap"
)

// status is the one-line outcome of the latest action or failure.
type status struct {
	text string
	err  bool
}

// titleView says what the TUI is attached to and where it listens.
func (m *Model) titleView() string {
	s := m.styles
	where := m.describe
	if where == "" {
		where = "connecting…"
	}
	parts := []string{s.TitleName.Render("Gatehouse"), s.Title.Render(where)}
	for _, t := range m.snap.Transports {
		addr := t.Name + " " + shortAddr(t.Addr)
		if t.Name == broker.TransportMQTT || !t.TLS {
			parts = append(parts, s.Bad.Render(addr+" (no TLS)"))
		} else {
			parts = append(parts, s.Title.Render(addr))
		}
	}
	return ansi.Truncate(strings.Join(parts, s.Title.Render(" · ")), m.width, "…")
}

// shortAddr drops a wildcard host, so three listeners fit in 80 columns:
// "0.0.0.0:8883" and "[::]:8883" become ":8883".
func shortAddr(addr string) string {
	for _, wild := range []string{"0.0.0.0:", "[::]:"} {
		if strings.HasPrefix(addr, wild) {
			return ":" + strings.TrimPrefix(addr, wild)
		}
	}
	return addr
}

// tabsView lists the views; the active one is bracketed, so it shows
// without colour too.
func (m *Model) tabsView() string {
	tabs := make([]string, 0, pageCount)
	for p := range pageCount {
		name := string(rune('1'+p)) + " " + p.String()
		if p == m.page {
			tabs = append(tabs, m.styles.TabActive.Render("["+name+"]"))
		} else {
			tabs = append(tabs, m.styles.TabInactive.Render(" "+name+" "))
		}
	}
	return ansi.Truncate(strings.Join(tabs, " "), m.width, "…")
}

// footerView is the optional tour line, the status line and the help.
func (m *Model) footerView() string {
	s := m.styles
	var lines []string
	if m.tour.active() {
		lines = append(lines, s.Tour.Render(m.tour.line()))
	}
	st := s.StatusInfo.Render(m.status.text)
	switch {
	case m.status.err:
		st = s.StatusError.Render("error: " + m.status.text)
	case !m.loaded && m.status.text == "":
		st = s.Muted.Render("loading…")
	}
	lines = append(lines, st)
	// bubbles/help overflows when there is no room left for its ellipsis,
	// so every footer line is clipped here.
	lines = append(lines, strings.Split(m.help.View(m.helpKeys()), "\n")...)
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, m.width, "…")
	}
	return strings.Join(lines, "\n")
}

// composedHelp is the help of the active page followed by the global
// bindings. While a page captures input the global keys do not apply, so
// they are left out.
type composedHelp struct {
	page    common.Page
	global  keymap.KeyMap
	capture bool
}

// ShortHelp implements help.KeyMap.
func (h composedHelp) ShortHelp() []key.Binding {
	if h.capture {
		return h.page.ShortHelp()
	}
	return append(slices.Clone(h.page.ShortHelp()), h.global.ShortHelp()...)
}

// FullHelp implements help.KeyMap.
func (h composedHelp) FullHelp() [][]key.Binding {
	if h.capture {
		return h.page.FullHelp()
	}
	return append(slices.Clone(h.page.FullHelp()), h.global.FullHelp()...)
}

func (m *Model) helpKeys() composedHelp {
	p := m.active()
	return composedHelp{page: p, global: m.keys, capture: p.Capturing()}
}
