package ui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/ui/common"
	"github.com/gatehouse/gatehouse/ui/intent"
	"github.com/gatehouse/gatehouse/ui/termsafe"
)

// cmdline is the ":" command line: jump to a view (":certs"), act on a
// certificate by CN or serial (":suspend dev1") or on a token subject
// (":token suspend dev1"), kick a session, quit. A
// revoke asks y/n on the same line before it goes (p: and purge its
// retained messages).
type cmdline struct {
	c       common.Common
	input   textinput.Model
	typing  bool
	confirm *intent.Transition // a revoke waiting for y/n
	// confirmToken is a token revoke waiting for y/n (see runTokenCommand).
	confirmToken *intent.TokenTransition
	ask          string
}

// views maps the names ":" accepts to views.
var views = map[string]Page{
	"home": PageHome, "h": PageHome, "0": PageHome,
	"certs": PageCertificates, "certificates": PageCertificates, "1": PageCertificates,
	"conns": PageConnections, "connections": PageConnections, "sessions": PageConnections, "2": PageConnections,
	"transports": PageTransports, "mtls": PageTransports, "3": PageTransports,
	"activity": PageActivity, "events": PageActivity, "4": PageActivity,
	"trust": PageTrust, "cas": PageTrust, "5": PageTrust,
	"telemetry": PageTelemetry, "6": PageTelemetry,
	"policy": PagePolicy, "acl": PagePolicy, "rules": PagePolicy, "7": PagePolicy,
}

// verbs the command line accepts with a certificate argument.
var certVerbs = map[string]store.State{
	"suspend": store.StateSuspended, "reactivate": store.StateActive, "revoke": store.StateRevoked, "show": "",
}

func newCmdline(c common.Common) cmdline {
	in := textinput.New()
	in.Prompt = ":"
	in.CharLimit = 256
	in.Cursor.SetMode(cursor.CursorStatic)
	return cmdline{c: c, input: in}
}

func (l *cmdline) open() bool { return l.typing || l.confirm != nil || l.confirmToken != nil }

func (l *cmdline) start() tea.Cmd {
	l.typing = true
	l.input.Reset()
	return l.input.Focus()
}

func (l *cmdline) close() {
	l.typing, l.confirm, l.confirmToken, l.ask = false, nil, nil, ""
	l.input.Blur()
}

// resolvedMsg is the answer to a certificate named on the command line:
// its ID.
type resolvedMsg struct {
	verb, query, id string
	err             error
}

// update handles a key while the command line is open.
func (l *cmdline) update(m *Model, k tea.KeyMsg) tea.Cmd {
	keys := l.c.Keys
	if l.confirmToken != nil {
		switch {
		case key.Matches(k, keys.Confirm):
			in := *l.confirmToken
			l.close()
			return common.Emit(in)
		case key.Matches(k, keys.Cancel):
			l.close()
		}
		return nil
	}
	if l.confirm != nil {
		switch {
		case key.Matches(k, keys.Confirm, keys.ConfirmPurge):
			in := *l.confirm
			in.PurgeRetained = key.Matches(k, keys.ConfirmPurge)
			l.close()
			return common.Emit(in)
		case key.Matches(k, keys.Cancel):
			l.close()
		}
		return nil
	}
	switch k.Type {
	case tea.KeyEsc:
		l.close()
		return nil
	case tea.KeyEnter:
		line := strings.TrimSpace(l.input.Value())
		l.close()
		return m.runCommand(line)
	}
	var cmd tea.Cmd
	l.input, cmd = l.input.Update(k)
	return cmd
}

// runCommand runs one command line.
func (m *Model) runCommand(line string) tea.Cmd {
	f := strings.Fields(line)
	if len(f) == 0 {
		return nil
	}
	verb, args := strings.ToLower(f[0]), f[1:]
	if p, ok := views[verb]; ok && len(args) == 0 {
		return m.show(p)
	}
	switch verb {
	case "q", "quit":
		return m.quit()
	case "token", "tokens":
		return m.runTokenCommand(args)
	case "cluster":
		m.overlay = m.cluster // over the current view: no tab of its own
		m.cluster.Open()
		return clusterStatus(m.ctx, m.backend)
	case "kick":
		if len(args) != 1 {
			m.fail(fmt.Errorf(":kick needs one client id"))
			return nil
		}
		return common.Emit(intent.Kick{ClientID: args[0]})
	}
	if _, ok := certVerbs[verb]; ok {
		if len(args) != 1 {
			m.fail(fmt.Errorf(":%s needs one certificate: a CN or a serial", verb))
			return nil
		}
		return resolve(m.ctx, m.backend, verb, args[0])
	}
	m.fail(fmt.Errorf("unknown command %q: try :home, :certs, :policy, :suspend CN, :reactivate CN, :revoke CN, :show CN, :token suspend SUB, :kick CLIENT, :q", termsafe.Clean(line)))
	return nil
}

// handleResolved acts on a certificate the command line named.
func (m *Model) handleResolved(msg resolvedMsg) tea.Cmd {
	if msg.err != nil {
		m.fail(fmt.Errorf("%s %s: %w", msg.verb, termsafe.Clean(msg.query), msg.err))
		return nil
	}
	cn := msg.query
	live := 0
	for _, c := range m.st.Snapshot().Certs {
		if c.ID == msg.id {
			cn = c.CN
		}
	}
	for _, s := range m.st.Sessions() {
		if s.CertID == msg.id {
			live++
		}
	}
	to := certVerbs[msg.verb]
	switch to {
	case "":
		m.page = PageCertificates
		if cmd, ok := m.certs.Details(msg.id); ok {
			return cmd
		}
		m.fail(fmt.Errorf("show %s: not loaded yet", termsafe.Clean(msg.query)))
		return nil
	case store.StateRevoked:
		in := intent.Transition{ID: msg.id, CN: cn, To: to}
		m.cmdline.confirm = &in
		m.cmdline.ask = fmt.Sprintf("revoke %s? final; drops %s", certName(cn, msg.id), common.Plural(live, "session"))
		return nil
	}
	return common.Emit(intent.Transition{ID: msg.id, CN: cn, To: to})
}

// view renders the command line, or the pending question, for the footer.
func (l *cmdline) view() string {
	if l.confirm != nil {
		return l.c.Styles.StatusError.Render(termsafe.Clean(l.ask)) + l.c.Styles.Muted.Render("  y/p/n")
	}
	if l.confirmToken != nil {
		return l.c.Styles.StatusError.Render(termsafe.Clean(l.ask)) + l.c.Styles.Muted.Render("  y/n")
	}
	return l.input.View()
}

// ShortHelp implements help.KeyMap for the footer while the line is open.
func (l cmdline) ShortHelp() []key.Binding {
	k := l.c.Keys
	if l.confirm != nil {
		return []key.Binding{k.Confirm, k.ConfirmPurge, k.Cancel}
	}
	if l.confirmToken != nil {
		return []key.Binding{k.Confirm, k.Cancel}
	}
	run, cancel := k.Submit, k.Back
	run.SetHelp("enter", "run")
	cancel.SetHelp("esc", "cancel")
	return []key.Binding{run, cancel}
}

// FullHelp implements help.KeyMap.
func (l cmdline) FullHelp() [][]key.Binding { return [][]key.Binding{l.ShortHelp()} }
