// Package acl is the authorization view: the policy's rules in order and
// its default decision, with keys to add, remove and reorder rules, flip the
// default, and a prompt that tests what a client may do on a topic.
//
// The page talks to its own narrow Backend from commands that capture
// values, and folds the answers back in its Update: it needs nothing from
// the root model but the policy of each snapshot (SetPolicy).
package acl

import (
	"context"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/broker/policy"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/ui/common"
	"github.com/gatehouse/gatehouse/ui/components/table"
	"github.com/gatehouse/gatehouse/ui/keymap"
	"github.com/gatehouse/gatehouse/ui/termsafe"
)

// Backend is what the page changes the policy through. Every method may
// block on I/O: the page calls them only from commands.
type Backend interface {
	Policy(ctx context.Context) (store.Policy, error)
	AddRule(ctx context.Context, r store.Rule) (store.Rule, error)
	RemoveRule(ctx context.Context, id string) (store.Rule, error)
	MoveRule(ctx context.Context, id, before string) error
	SetPolicyDefault(ctx context.Context, effect string) error
}

// KeyMap holds the page's own bindings.
type KeyMap struct {
	Add, Remove, MoveUp, MoveDown, Default, Test key.Binding
}

// DefaultKeyMap returns the page's default bindings.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Add:      key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "add rule")),
		Remove:   key.NewBinding(key.WithKeys("x", "delete"), key.WithHelp("x", "remove")),
		MoveUp:   key.NewBinding(key.WithKeys("K", "shift+up"), key.WithHelp("K", "move up")),
		MoveDown: key.NewBinding(key.WithKeys("J", "shift+down"), key.WithHelp("J", "move down")),
		Default:  key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "toggle default")),
		Test:     key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "test a topic")),
	}
}

// mode is what the page is doing with the keyboard.
type mode int

const (
	browsing   mode = iota
	adding          // reading a rule
	probing         // reading a topic to test
	confirming      // asking y/n for confirm
)

// Page is the authorization view. Create it with New.
type Page struct {
	c     common.Common
	keys  keymap.KeyMap
	own   KeyMap
	b     Backend // nil: read-only
	ctx   context.Context
	table table.Model
	input textinput.Model

	pol      store.Policy
	compiled *policy.Policy // nil when the stored policy does not compile
	mode     mode
	confirm  confirmation
	status   string
	bad      bool // status is an error or a deny

	width, height int
}

// confirmation is a pending change the operator must confirm.
type confirmation struct {
	title, body string
	run         func(ctx context.Context, b Backend) (string, error)
}

// ChangedMsg carries a change's outcome and the policy after it. The root
// hands it to the page whichever view is shown, so an answer that arrives
// after the operator switched views is not lost.
type ChangedMsg struct {
	text string
	pol  store.Policy
	err  error
}

// New returns the view. b may be nil (a viewer's console): the rules are
// then shown read-only.
func New(ctx context.Context, c common.Common, b Backend) *Page {
	p := &Page{c: c, keys: c.Keys, own: DefaultKeyMap(), b: b, ctx: ctx}
	p.table = c.NewTable([]table.Column{
		{Title: "ID", Width: 5},
		{Title: "EFFECT", Width: 6},
		{Title: "ACTION", Width: 9},
		{Title: "TOPIC", Width: 20, Flex: true},
		{Title: "WHO", Width: 14},
	})
	p.input = textinput.New()
	p.input.CharLimit = 1024
	p.input.Cursor.SetMode(cursor.CursorStatic)
	p.SetSize(80, 20)
	return p
}

// SetSize implements common.Page.
func (p *Page) SetSize(width, height int) {
	p.width, p.height = width, height
	p.table.SetSize(width, height-5)
	p.input.Width = max(10, width-len(p.input.Prompt)-2)
}

// SetPolicy replaces the rules shown.
func (p *Page) SetPolicy(pol store.Policy) {
	p.pol = pol
	p.compiled, _ = compile(pol)
	p.table.SetLen(len(pol.Rules))
}

// compile turns the stored policy into the engine's form.
func compile(pol store.Policy) (*policy.Policy, error) {
	rules := make([]policy.Rule, len(pol.Rules))
	for i, r := range pol.Rules {
		rules[i] = policy.Rule(r)
	}
	return policy.Compile(rules, pol.Default)
}

// Posture describes the policy in a few words for the header and the
// Transports view; open is true when every certified device may publish
// and subscribe on every topic, which is shown in red.
func Posture(pol store.Policy) (text string, open bool) {
	if pol.Default == "" {
		return "", false
	}
	c, err := compile(pol)
	if err != nil {
		return "policy invalid", true
	}
	if c.OpenToAll() {
		return "policy OPEN: every device may use every topic", true
	}
	return "policy default " + pol.Default, false
}

// Rights describes what certificate c may do under pol (its ca:NAME rules
// resolved by issuers), one line per rule
// that applies (variables filled; ${client_id} depends on the connection),
// then the default and the certificate's denials.
func Rights(pol store.Policy, issuers policy.Issuers, c store.Cert, denials uint64) []string {
	compiled, err := compile(pol)
	if err != nil {
		return []string{"the stored policy does not compile: " + oneLine(err.Error())}
	}
	grants := compiled.WithIssuers(issuers).Session(policy.Identity{Serial: c.Serial, CertID: c.ID, CN: c.CN, Issuer: c.Issuer, ClientID: "${client_id}"}).Grants()
	out := make([]string, 0, len(grants)+1)
	for _, g := range grants {
		out = append(out, fmt.Sprintf("%-4s %-5s %-9s %s", g.Rule, g.Effect, g.Action, termsafe.Clean(g.Topic)))
	}
	return append(out, fmt.Sprintf("otherwise %s · %d denied since the broker started", pol.Default, denials))
}

// Capturing implements common.Page.
func (p *Page) Capturing() bool { return p.mode != browsing }

func (p *Page) selected() (store.Rule, bool) {
	i := p.table.Cursor()
	if i < 0 || i >= len(p.pol.Rules) {
		return store.Rule{}, false
	}
	return p.pol.Rules[i], true
}

// Update implements common.Page.
func (p *Page) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case ChangedMsg:
		if msg.err != nil {
			p.status, p.bad = oneLine(msg.err.Error()), true
			return nil
		}
		p.SetPolicy(msg.pol)
		p.status, p.bad = msg.text, false
		return nil
	case tea.KeyMsg:
		switch p.mode {
		case adding, probing:
			return p.updateInput(msg)
		case confirming:
			return p.updateConfirm(msg)
		}
		return p.updateBrowse(msg)
	}
	return nil
}

func (p *Page) updateBrowse(k tea.KeyMsg) tea.Cmd {
	editable := p.b != nil
	r, ok := p.selected()
	switch {
	case key.Matches(k, p.own.Test):
		return p.prompt(probing, "test (who action topic [client-id]): ", "cn:dev1 publish kp1/demo-v1/dcx/dev1/json")
	case !editable && (key.Matches(k, p.own.Add) || key.Matches(k, p.own.Remove) || key.Matches(k, p.own.MoveUp) ||
		key.Matches(k, p.own.MoveDown) || key.Matches(k, p.own.Default)):
		p.status, p.bad = "read-only: the policy cannot be changed from here", true
	case key.Matches(k, p.own.Add):
		return p.prompt(adding, "add (allow|deny publish|subscribe|pubsub FILTER [WHO]): ", "allow subscribe kp1/# cn:backend-*")
	case key.Matches(k, p.own.Remove) && ok:
		p.mode = confirming
		p.confirm = confirmation{title: "Remove rule " + r.ID,
			body: "Remove " + describe(r) + "?\n\nConnected clients lose or gain rights at once.",
			run: func(ctx context.Context, b Backend) (string, error) {
				_, err := b.RemoveRule(ctx, r.ID)
				return "removed " + r.ID, err
			}}
	case key.Matches(k, p.own.MoveUp) && ok:
		i := p.table.Cursor()
		if i == 0 {
			return nil
		}
		above := p.pol.Rules[i-1].ID
		p.table.SetCursor(i - 1)
		return p.change(func(ctx context.Context, b Backend) (string, error) {
			return "moved " + r.ID + " up", b.MoveRule(ctx, r.ID, above)
		})
	case key.Matches(k, p.own.MoveDown) && ok:
		i := p.table.Cursor()
		if i+1 >= len(p.pol.Rules) {
			return nil
		}
		below := p.pol.Rules[i+1].ID
		p.table.SetCursor(i + 1)
		return p.change(func(ctx context.Context, b Backend) (string, error) {
			return "moved " + r.ID + " down", b.MoveRule(ctx, below, r.ID)
		})
	case key.Matches(k, p.own.Default):
		to := policy.Allow
		body := "Set the default to ALLOW?\n\nEvery client may then publish and subscribe on every topic no rule denies."
		if p.pol.Default == policy.Allow {
			to, body = policy.Deny, "Set the default to DENY?\n\nClients keep only what the rules allow."
		}
		p.mode = confirming
		p.confirm = confirmation{title: "Default decision", body: body,
			run: func(ctx context.Context, b Backend) (string, error) {
				return "default " + to, b.SetPolicyDefault(ctx, to)
			}}
	default:
		p.table, _ = p.table.Update(k)
	}
	return nil
}

func (p *Page) prompt(m mode, label, placeholder string) tea.Cmd {
	p.mode = m
	p.input.Prompt = label
	p.input.Placeholder = placeholder
	p.input.SetValue("")
	p.SetSize(p.width, p.height)
	return p.input.Focus()
}

func (p *Page) updateInput(k tea.KeyMsg) tea.Cmd {
	switch {
	case key.Matches(k, p.keys.Back):
		p.mode = browsing
		p.input.Blur()
		return nil
	case key.Matches(k, p.keys.Submit):
		m, text := p.mode, strings.TrimSpace(p.input.Value())
		p.mode = browsing
		p.input.Blur()
		if m == probing {
			p.status, p.bad = p.test(text)
			return nil
		}
		r, err := parseRule(text)
		if err != nil {
			p.status, p.bad = oneLine(err.Error()), true
			return nil
		}
		return p.change(func(ctx context.Context, b Backend) (string, error) {
			added, err := b.AddRule(ctx, r)
			return "added " + added.ID, err
		})
	}
	var cmd tea.Cmd
	p.input, cmd = p.input.Update(k)
	return cmd
}

func (p *Page) updateConfirm(k tea.KeyMsg) tea.Cmd {
	switch {
	case key.Matches(k, p.keys.Confirm):
		p.mode = browsing
		return p.change(p.confirm.run)
	case key.Matches(k, p.keys.Cancel):
		p.mode = browsing
	}
	return nil
}

// change runs fn against the backend in a command and reloads the policy.
func (p *Page) change(fn func(ctx context.Context, b Backend) (string, error)) tea.Cmd {
	b, ctx := p.b, p.ctx
	return func() tea.Msg {
		text, err := fn(ctx, b)
		if err != nil {
			return ChangedMsg{err: err}
		}
		pol, err := b.Policy(ctx)
		return ChangedMsg{text: text, pol: pol, err: err}
	}
}

// parseRule reads "allow|deny ACTION FILTER [WHO]".
func parseRule(s string) (store.Rule, error) {
	f := strings.Fields(s)
	if len(f) < 3 || len(f) > 4 {
		return store.Rule{}, fmt.Errorf("want: allow|deny publish|subscribe|pubsub FILTER [WHO]")
	}
	r := store.Rule{Effect: f[0], Action: f[1], Topic: f[2], Who: policy.WhoAny}
	if len(f) == 4 {
		r.Who = f[3]
	}
	return r, policy.Validate(policy.Rule{Effect: r.Effect, Action: r.Action, Topic: r.Topic, Who: r.Who})
}

// test answers "WHO ACTION TOPIC [CLIENT-ID]" from the rules shown, as the
// broker would decide now. WHO is anonymous, cn:CN or cert:SERIAL.
func (p *Page) test(s string) (string, bool) {
	f := strings.Fields(s)
	if len(f) < 3 || len(f) > 4 {
		return "want: anonymous|cn:CN|cert:SERIAL publish|subscribe TOPIC [CLIENT-ID]", true
	}
	if p.compiled == nil {
		return "the stored policy does not compile", true
	}
	var id policy.Identity
	switch who := f[0]; {
	case who == policy.WhoAnonymous:
		id.Anonymous = true
	case strings.HasPrefix(who, "cn:"):
		id.CN = who[3:]
	case strings.HasPrefix(who, "cert:"):
		id.Serial = strings.TrimLeft(strings.ToLower(who[5:]), "0")
	default:
		return "who: anonymous, cn:CN or cert:SERIAL", true
	}
	if len(f) == 4 {
		id.ClientID = f[3]
	}
	if err := policy.ValidFilter(f[2]); err != nil {
		return oneLine(err.Error()), true
	}
	s2 := p.compiled.Session(id)
	var ok bool
	var rule string
	switch f[1] {
	case policy.ActionPublish:
		ok, rule = s2.Publish(f[2])
	case policy.ActionSubscribe:
		ok, rule = s2.Subscribe(f[2])
	default:
		return "action: publish or subscribe", true
	}
	verdict := "DENY"
	if ok {
		verdict = "ALLOW"
	}
	return fmt.Sprintf("%s: %s %s %s, rule %s", verdict, f[0], f[1], f[2], rule), !ok
}

// describe is a rule in one line, safe for the terminal.
func describe(r store.Rule) string {
	return termsafe.Clean(r.ID + " (" + r.Effect + " " + r.Action + " " + r.Topic + " for " + r.Who + ")")
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// View implements common.Page.
func (p *Page) View() string {
	st := p.c.Styles
	if p.mode == confirming {
		return common.Fit(p.c.Dialog(p.width, p.height, p.confirm.title, p.confirm.body, "y yes · n/esc no"), p.width, p.height)
	}
	row := func(i int) table.Row {
		r := p.pol.Rules[i]
		return table.Row{Cells: []string{r.ID, r.Effect, r.Action, termsafe.Clean(r.Topic), termsafe.Clean(r.Who)}}
	}
	summary := st.Summary.Render(common.Plural(len(p.pol.Rules), "rule") + " · default " + p.pol.Default + " · deny wins")
	if text, open := Posture(p.pol); open {
		summary += "  " + st.Bad.Render("! "+text)
	}
	bottom := st.Muted.Render("Rules apply to connected clients at once. a add · t test a topic")
	switch {
	case p.mode != browsing:
		bottom = p.input.View()
	case p.status != "" && p.bad:
		bottom = st.Bad.Render(termsafe.Clean(p.status))
	case p.status != "":
		bottom = st.Good.Render(termsafe.Clean(p.status))
	}
	out := summary + "\n" + p.table.View(row) + "\n\n" + bottom
	return common.Fit(out, p.width, p.height)
}

// ShortHelp implements help.KeyMap.
func (p *Page) ShortHelp() []key.Binding {
	switch p.mode {
	case confirming:
		return []key.Binding{p.keys.Confirm, p.keys.Cancel}
	case adding, probing:
		submit, cancel := p.keys.Submit, p.keys.Back
		cancel.SetHelp("esc", "cancel")
		return []key.Binding{submit, cancel}
	}
	return []key.Binding{p.own.Add, p.own.Remove, p.own.MoveUp, p.own.MoveDown, p.own.Default, p.own.Test}
}

// FullHelp implements help.KeyMap.
func (p *Page) FullHelp() [][]key.Binding {
	return [][]key.Binding{p.ShortHelp(), {p.keys.Up, p.keys.Down}}
}
