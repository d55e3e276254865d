package ui

import (
	"net"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/x/ansi"

	"github.com/gatehouse/gatehouse/ui/common"
	"github.com/gatehouse/gatehouse/ui/keymap"
	"github.com/gatehouse/gatehouse/ui/termsafe"
)

// status is the one-line outcome of the latest action or failure.
type status struct {
	text string
	err  bool
	warn bool // red like an error, but the action worked
	// origin marks a connectivity failure ("snapshot", "stream"), which is
	// cleared once that part works again; action results clear after
	// statusFor, so an old "suspended dev1" never reads as news.
	origin string
	at     time.Time
}

// statusFor is how long an action's result stays in the status line.
const statusFor = 6 * time.Second

// expire clears an action's result once it is statusFor old.
func (s *status) expire(now time.Time) {
	if s.origin == "" && s.text != "" && now.Sub(s.at) >= statusFor {
		*s = status{}
	}
}

// titleView says what the TUI is attached to and where it listens. The
// listeners (with the red "no TLS" warning) take priority over the
// backend's description, which is shortened or, when there is no room at
// all, moved to the idle status line.
func (m *Model) titleView() string {
	s := m.styles
	sep := s.Title.Render(" · ")
	parts := []string{s.TitleName.Render("Gatehouse")}
	if where, ok := m.titleWhere(); ok {
		parts = append(parts, s.Title.Render(where))
	}
	if !m.offline.IsZero() {
		parts = append(parts, s.Bad.Render(m.offlineText()))
	}
	if l := m.listenersView(); l != "" {
		parts = append(parts, l)
	}
	if p := m.postureView(); p != "" {
		parts = append(parts, p)
	}
	return ansi.Truncate(strings.Join(parts, sep), m.width, "…")
}

// postureView is the authorization posture, red when every device may use
// every topic; empty before a snapshot with a policy arrived.
func (m *Model) postureView() string {
	switch {
	case m.posture.text == "":
		return ""
	case m.posture.open:
		return m.styles.Bad.Render(m.posture.text)
	}
	return m.styles.Title.Render(m.posture.text)
}

// offlineText says the backend is gone and how old the views are.
func (m *Model) offlineText() string {
	text := "NOT CONNECTED"
	if r := m.st.Refreshed(); !r.IsZero() {
		text += ", last refreshed " + common.Duration(m.clock().Sub(r)) + " ago"
	}
	return text
}

// titleWhere returns the description as it fits in the title, and false
// when fewer than minWhere cells are left for it.
func (m *Model) titleWhere() (string, bool) {
	const minWhere = 12
	where := termsafe.Clean(m.describe)
	if where == "" {
		where = "connecting…"
	}
	room := m.width - ansi.StringWidth("Gatehouse · ")
	if l := m.listenersView(); l != "" {
		room -= ansi.StringWidth(l) + 3
	}
	if p := m.postureView(); p != "" {
		room -= ansi.StringWidth(p) + 3
	}
	if !m.offline.IsZero() {
		room -= ansi.StringWidth(m.offlineText()) + 3
	}
	if room < min(minWhere, ansi.StringWidth(where)) {
		return where, false
	}
	return ansi.Truncate(where, room, "…"), true
}

// listenersView lists the transports; a host shared by all of them is
// written once ("127.0.0.1 mqtts :8883 · wss :8884"), a wildcard host not
// at all.
func (m *Model) listenersView() string {
	s, ts := m.styles, m.st.Snapshot().Transports
	shared, ok := "", len(ts) > 0
	for i, t := range ts {
		h, _, err := net.SplitHostPort(t.Addr)
		if err != nil || (i > 0 && h != shared) {
			ok = false
			break
		}
		shared = h
	}
	if !ok {
		shared = ""
	}
	parts := make([]string, 0, len(ts))
	for _, t := range ts {
		addr := t.Addr
		if h, port, err := net.SplitHostPort(addr); err == nil && (h == shared || wildcard(h)) {
			addr = ":" + port
		}
		label := strings.TrimSpace(t.Name + " " + addr)
		if t.TLS {
			parts = append(parts, s.Title.Render(label))
		} else {
			parts = append(parts, s.Bad.Render(label+" (no TLS)"))
		}
	}
	out := strings.Join(parts, s.Title.Render(" · "))
	if shared != "" && !wildcard(shared) {
		out = s.Title.Render(shared+" ") + out
	}
	return out
}

func wildcard(host string) bool { return host == "" || host == "0.0.0.0" || host == "::" }

// tabsView lists the views; the active one is bracketed, so it shows
// without colour too. The inactive tabs are padded to the width of the
// active one, so the bar does not shift when switching, as long as that
// fits; then they lose the padding, then take short names (80 columns),
// then only their numbers, so the active tab is never cut off.
func (m *Model) tabsView() string {
	for _, try := range []struct {
		padding string
		names   map[Page]string
	}{{" ", nil}, {"", nil}, {"", shortNames}} {
		if bar := m.tabs(try.padding, true, try.names); ansi.StringWidth(bar) <= m.width {
			return bar
		}
	}
	return ansi.Truncate(m.tabs("", false, nil), m.width, "…")
}

// shortNames are the tab names used when the full ones do not fit.
var shortNames = map[Page]string{PageCertificates: "Certs", PageConnections: "Conns", PageTransports: "Ports"}

func (m *Model) tabs(padding string, names bool, short map[Page]string) string {
	tabs := make([]string, 0, pageCount)
	for p := range pageCount {
		num := string(rune('0' + p))
		name := num + " " + p.String()
		if n, ok := short[p]; ok && p != m.page {
			name = num + " " + n
		}
		switch {
		case p == m.page:
			tabs = append(tabs, m.styles.TabActive.Render("["+name+"]"))
		case names:
			tabs = append(tabs, m.styles.TabInactive.Render(padding+name+padding))
		default:
			tabs = append(tabs, m.styles.TabInactive.Render(num))
		}
	}
	return strings.Join(tabs, " ")
}

// footerView is the optional tour line, the status line and the help.
func (m *Model) footerView() string {
	s := m.styles
	var lines []string
	if m.tour.active() {
		lines = append(lines, s.Tour.Render(m.tour.line()))
	}
	st := s.StatusInfo.Render(termsafe.Clean(m.status.text))
	switch {
	case m.cmdline.open():
		st = m.cmdline.view()
	case m.status.err:
		st = s.StatusError.Render("error: " + termsafe.Clean(m.status.text))
	case m.status.warn:
		st = s.StatusError.Render(termsafe.Clean(m.status.text))
	case !m.st.Loaded() && m.status.text == "":
		st = s.Muted.Render("loading…")
	case m.status.text == "":
		if where, ok := m.titleWhere(); !ok {
			st = s.Muted.Render("attached to " + where)
		}
	}
	lines = append(lines, st)
	// bubbles/help overflows when there is no room left for its ellipsis,
	// so every footer line is clipped here.
	var keys help.KeyMap = m.helpKeys()
	if m.cmdline.open() {
		keys = m.cmdline
	}
	lines = append(lines, strings.Split(m.help.View(keys), "\n")...)
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
