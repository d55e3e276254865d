package ui

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/ui/common"
	"github.com/gatehouse/gatehouse/ui/keymap"
	"github.com/gatehouse/gatehouse/ui/pages/acl"
	"github.com/gatehouse/gatehouse/ui/pages/activity"
	"github.com/gatehouse/gatehouse/ui/pages/certs"
	"github.com/gatehouse/gatehouse/ui/pages/cluster"
	"github.com/gatehouse/gatehouse/ui/pages/connections"
	"github.com/gatehouse/gatehouse/ui/pages/home"
	"github.com/gatehouse/gatehouse/ui/pages/telemetry"
	"github.com/gatehouse/gatehouse/ui/pages/tokens"
	"github.com/gatehouse/gatehouse/ui/pages/transports"
	"github.com/gatehouse/gatehouse/ui/pages/trust"
	"github.com/gatehouse/gatehouse/ui/state"
	"github.com/gatehouse/gatehouse/ui/styles"
)

// Model is the root of the TUI. It only routes: it owns the page enum, the
// window-size fan-out, the global keys, the help composed from the active
// page, the status line and the state fed to the pages. Create it with New.
type Model struct {
	backend Backend
	parent  context.Context
	ctx     context.Context // cancelled on quit; ends the subscription
	cancel  context.CancelFunc
	clock   func() time.Time

	styles *styles.Styles
	keys   keymap.KeyMap
	help   help.Model

	page       Page
	pages      [pageCount]common.Page
	overlay    common.Page // a dialog of another page shown over this one (home's create form)
	home       *home.Page
	certs      *certs.Page
	conns      *connections.Page
	transports *transports.Page
	activity   *activity.Page
	trust      *trust.Page
	telemetry  *telemetry.Page
	policy     *acl.Page
	tokens     *tokens.Page  // shown over the current view by :tokens
	cluster    *cluster.Page // shown over the current view by :cluster

	width, height  int
	sizedW, sizedH int // the size last fanned out to the pages

	describe string
	st       *state.State        // the copy of the daemon's state all pages read
	offline  time.Time           // when the backend stopped answering; zero while it answers
	cmdline  cmdline             // the ":" command line
	events   <-chan broker.Event // the current subscription
	inflight int                 // snapshot requests on their way
	pending  bool                // a reload was asked for while one was in flight
	gen      int                 // bumped by local updates a snapshot in flight would undo
	status   status
	tour     tour
	readOnly bool // WithReadOnly: the backend refuses every change
	posture  struct {
		text string // acl.Posture of the latest snapshot's policy
		open bool
	}
}

// New returns the root model for b. It renders a sensible 80x24 screen
// before the first tea.WindowSizeMsg arrives.
func New(b Backend, opts ...Option) *Model {
	m := &Model{
		backend: b,
		parent:  context.Background(),
		clock:   time.Now,
		st:      state.New(),
		styles:  styles.DefaultStyles(),
		keys:    keymap.DefaultKeyMap(),
		help:    help.New(),
		width:   80,
		height:  24,
	}
	for _, o := range opts {
		o(m)
	}
	m.ctx, m.cancel = context.WithCancel(m.parent)
	m.help.Styles = m.styles.Help
	c := common.Common{Styles: m.styles, Keys: m.keys, Clock: m.clock}
	m.home, m.certs, m.conns = home.New(c, m.st), certs.New(c, m.st), connections.New(c, m.st)
	m.transports, m.activity, m.trust, m.telemetry = transports.New(c), activity.New(c), trust.New(c), telemetry.New(c)
	var policyBackend acl.Backend = b
	if m.readOnly {
		policyBackend = nil // the page then offers no edits
	}
	m.policy = acl.New(m.ctx, c, policyBackend)
	m.tokens = tokens.New(c)
	m.cluster = cluster.New(c)
	m.pages = [pageCount]common.Page{m.home, m.certs, m.conns, m.transports, m.activity, m.trust, m.telemetry, m.policy}
	m.cmdline = newCmdline(c)
	m.inflight = 1 // the snapshot Init asks for
	m.layout()
	return m
}

// Init implements tea.Model: it asks for the backend's name, the first
// snapshot and the event stream, and starts the clock and refresh ticks.
func (m *Model) Init() tea.Cmd {
	return tea.Batch(describe(m.backend), loadSnapshot(m.ctx, m.backend, true, m.gen),
		subscribe(m.ctx, m.backend), tick(), refreshLater(m.refreshEvery()))
}

// Update implements tea.Model.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	cmd := m.update(msg)
	if m.overlay != nil && !m.overlay.Capturing() {
		m.overlay = nil // its dialog closed: back to the page under it
	}
	m.layout()
	return m, cmd
}

func (m *Model) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		return nil
	case tea.KeyMsg:
		return m.handleKeys(msg)
	case tea.MouseMsg:
		return m.handleMouse(msg)
	case tea.ResumeMsg:
		return m.reload(true)
	case describeMsg:
		m.describe = string(msg)
		return nil
	case snapshotMsg:
		return m.handleSnapshot(msg)
	case subscribedMsg:
		if msg.err != nil {
			m.failConn("stream", fmt.Errorf("subscribe to events: %w", msg.err))
			return resubscribeLater()
		}
		m.recovered("stream")
		m.events = msg.ch
		return readEvents(msg.ch)
	case eventsMsg:
		return m.handleEvents(msg)
	case resubscribeMsg:
		return tea.Batch(subscribe(m.ctx, m.backend), m.reload(true))
	case tickMsg:
		now := m.clock()
		if m.st.Expire(now) {
			m.pushSessions()
		}
		m.status.expire(now)
		return tick()
	case refreshMsg:
		cmd := tea.Batch(m.reload(false), refreshLater(m.refreshEvery()))
		if m.cluster.IsOpen() {
			cmd = tea.Batch(cmd, clusterStatus(m.ctx, m.backend))
		}
		return cmd
	case clusterStatusMsg:
		m.cluster.SetStatus(msg.status, msg.err)
		return nil
	}
	if cmd, ok := m.handleIntent(msg); ok {
		return cmd
	}
	if cmd, ok := m.handleResult(msg); ok {
		return cmd
	}
	return m.active().Update(msg)
}

// handleKeys splits a burst of typed runes into single keys handled in
// order. bubbletea delivers fast typing (tmux send-keys, SSH typeahead) as
// one KeyRunes message, which no binding matches: "jjjs" would be lost, or
// worse, act on the wrong row. A paste stays whole.
func (m *Model) handleKeys(k tea.KeyMsg) tea.Cmd {
	if k.Type != tea.KeyRunes || len(k.Runes) < 2 || k.Paste {
		return m.handleKey(k)
	}
	cmds := make([]tea.Cmd, 0, len(k.Runes))
	for _, r := range k.Runes {
		cmds = append(cmds, m.handleKey(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: k.Alt}))
		m.layout()
	}
	return tea.Sequence(cmds...)
}

// handleMouse scrolls the active list with the wheel, as the arrow keys do.
func (m *Model) handleMouse(msg tea.MouseMsg) tea.Cmd {
	if msg.Action != tea.MouseActionPress || m.active().Capturing() {
		return nil
	}
	switch msg.Button {
	case tea.MouseButtonWheelUp:
		return m.active().Update(tea.KeyMsg{Type: tea.KeyUp})
	case tea.MouseButtonWheelDown:
		return m.active().Update(tea.KeyMsg{Type: tea.KeyDown})
	}
	return nil
}

// handleKey applies the global keys unless the active page is reading
// text or showing a dialog; ctrl+c always quits.
func (m *Model) handleKey(k tea.KeyMsg) tea.Cmd {
	if k.String() == "ctrl+c" {
		return m.quit()
	}
	if m.cmdline.open() {
		return m.cmdline.update(m, k)
	}
	p := m.active()
	if p.Capturing() {
		return p.Update(k)
	}
	switch {
	case key.Matches(k, m.keys.Command):
		return m.cmdline.start()
	case key.Matches(k, m.keys.Home):
		return m.show(PageHome)
	case m.page == PageHome && key.Matches(k, m.keys.New):
		// The create form is the certificates view's, shown over home, so
		// a presenter never leaves the screen that shows the fleet.
		m.overlay = m.certs
		return m.certs.OpenForm()
	case key.Matches(k, m.keys.Quit):
		return m.quit()
	case key.Matches(k, m.keys.Help):
		m.help.ShowAll = !m.help.ShowAll
	case key.Matches(k, m.keys.Suspend):
		return tea.Suspend
	case key.Matches(k, m.keys.NextPage):
		return m.show((m.page + 1) % pageCount)
	case key.Matches(k, m.keys.PrevPage):
		return m.show((m.page + pageCount - 1) % pageCount)
	case key.Matches(k, m.keys.GoToPage):
		return m.show(Page(k.String()[0] - '0'))
	default:
		return p.Update(k)
	}
	return nil
}

// show switches to page p. Telemetry is reloaded on the way in, because
// values up to two seconds old would be shown until the next refresh.
func (m *Model) show(p Page) tea.Cmd {
	before := m.page
	m.page = p
	if p == PageTelemetry && before != p {
		return m.reload(false)
	}
	return nil
}

// refreshEvery is the snapshot interval: faster while the telemetry view
// is shown, since its values change with every message, and slow enough
// otherwise that a daemon with thousands of sessions is not kept busy.
func (m *Model) refreshEvery() time.Duration {
	if m.page == PageTelemetry {
		return telemetryEvery
	}
	return refreshEvery
}

func (m *Model) quit() tea.Cmd {
	m.cancel()
	return tea.Quit
}

// handleSnapshot applies a snapshot unless a local update has happened
// since it was asked for, in which case it would briefly undo that update
// on screen; a fresh one is asked for instead.
func (m *Model) handleSnapshot(msg snapshotMsg) tea.Cmd {
	m.inflight = max(0, m.inflight-1)
	if msg.err != nil {
		m.failConn("snapshot", fmt.Errorf("load state: %w", msg.err))
		return nil
	}
	m.recovered("snapshot")
	if msg.gen < m.gen {
		return m.reload(msg.full)
	}
	m.applySnapshot(msg.snap, msg.full)
	if m.pending && m.inflight == 0 {
		m.pending = false
		return m.reload(false)
	}
	return nil
}

// handleEvents applies a batch and re-arms the reader on the same channel.
func (m *Model) handleEvents(msg eventsMsg) tea.Cmd {
	if msg.ch != m.events {
		return nil // from a stream that was replaced
	}
	var cmds []tea.Cmd
	if len(msg.events) > 0 {
		reload, resync, cmd := m.applyEvents(msg.events)
		cmds = append(cmds, cmd)
		if resync || reload {
			cmds = append(cmds, m.reload(resync))
		}
	}
	if !msg.closed {
		return tea.Batch(append(cmds, readEvents(msg.ch))...)
	}
	m.events = nil
	if m.ctx.Err() == nil {
		m.failConn("stream", errors.New("event stream ended; reconnecting"))
		cmds = append(cmds, resubscribeLater())
	}
	return tea.Batch(cmds...)
}

// layout fans the window size out to the pages: they get what the title,
// tabs and footer leave. The footer's height changes with full help and
// with the active page's help, so it is measured after every update.
func (m *Model) layout() {
	m.help.Width = m.width
	h := max(3, m.height-2-lipgloss.Height(m.footerView()))
	if m.width == m.sizedW && h == m.sizedH {
		return
	}
	m.sizedW, m.sizedH = m.width, h
	for _, p := range m.pages {
		p.SetSize(m.width, h)
	}
	m.tokens.SetSize(m.width, h)
	m.cluster.SetSize(m.width, h)
}

// active is the page keys go to and that is shown: the overlay while it
// shows a dialog, else the current page.
func (m *Model) active() common.Page {
	if m.overlay != nil && m.overlay.Capturing() {
		return m.overlay
	}
	return m.pages[m.page]
}

// View implements tea.Model.
func (m *Model) View() string {
	return m.titleView() + "\n" + m.tabsView() + "\n" + m.active().View() + "\n" + m.footerView()
}

// Run runs the TUI on the terminal, in the alternate screen, until the
// operator quits or ctx is cancelled; both return nil. Options are passed
// to New.
func Run(ctx context.Context, b Backend, opts ...Option) error {
	m := New(b, append([]Option{WithContext(ctx)}, opts...)...)
	_, err := tea.NewProgram(m, tea.WithAltScreen(), tea.WithMouseCellMotion(), tea.WithContext(ctx)).Run()
	if err != nil && !(errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil) {
		return fmt.Errorf("run terminal UI: %w", err)
	}
	return nil
}
