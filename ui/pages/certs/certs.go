// Package certs is the certificates view: a table of client certificates
// with a "/" filter, a details view, a create form and the lifecycle
// actions suspend, reactivate and revoke. It never calls the backend; it
// emits intents (intents.go) that the root model turns into Backend calls.
package certs

import (
	"cmp"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/ui/common"
	"github.com/gatehouse/gatehouse/ui/components/filter"
	"github.com/gatehouse/gatehouse/ui/components/table"
	"github.com/gatehouse/gatehouse/ui/intent"
	"github.com/gatehouse/gatehouse/ui/keymap"
	"github.com/gatehouse/gatehouse/ui/state"
)

type mode int

const (
	modeList mode = iota
	modeDetails
	modeConfirm // revoke confirmation
	modeForm
	modeCreated
)

// Page is the certificates view. Create it with New.
type Page struct {
	c      common.Common
	keys   keymap.KeyMap // our copy; action bindings follow the selected row
	table  table.Model
	filter filter.Model
	vp     viewport.Model // details
	form   form
	mode   mode
	back   mode       // where a confirmation returns to
	target store.Cert // what the open revoke dialog is about

	st       *state.State // shared with the root, read-only here: the dropped sessions
	certs    []store.Cert // all, newest first
	shown    []int        // indices into certs matching the filter
	live     map[string]int
	sessions []broker.Session
	selected string // ID of the certificate under the cursor, kept across reloads
	sortCol  int    // table column the list is sorted by; -1: newest first
	sortDesc bool

	history    []store.AuditRecord
	historyFor string
	historyErr error
	rights     []string // what the policy lets rightsFor do
	rightsFor  string
	created    createdInfo

	width, height int
}

// New returns an empty certificates view.
func New(c common.Common, st *state.State) *Page {
	k := c.Keys
	p := &Page{c: c, keys: k, st: st, filter: filter.New(c), form: newForm(c), live: map[string]int{}, sortCol: -1}
	p.table = c.NewTable([]table.Column{
		{Title: "SERIAL", Width: 8},
		{Title: "CN", Width: 12, Flex: true, Max: 40},
		{Title: "STATE", Width: 9},
		{Title: "EXPIRES", Width: 8},
		{Title: "LIVE", Width: 4},
		{Title: "LAST SEEN", Width: 9, Priority: 1},
	})
	p.vp = viewport.New(80, 10)
	p.vp.KeyMap = viewport.KeyMap{Up: k.Up, Down: k.Down, PageUp: k.PageUp, PageDown: k.PageDown}
	p.SetSize(80, 20)
	p.refilter() // no row yet: the row actions start disabled
	return p
}

// SetSize implements common.Page.
func (p *Page) SetSize(width, height int) {
	p.width, p.height = width, height
	p.table.SetSize(width, height-1)
	p.filter.SetWidth(width)
	p.vp.Width, p.vp.Height = width, height
	p.form.setWidth(width)
	p.refreshDetails()
}

// SetCerts replaces the certificate list. The slice is copied, so the
// caller may keep changing its own.
func (p *Page) SetCerts(certs []store.Cert) {
	p.certs = slices.Clone(certs)
	p.sort()
	p.refilter()
}

// sortColumns are the columns o steps through, in order; then back to
// newest first.
var sortColumns = []int{1, 2, 3, 4, 5, 0}

// sort orders the list by the sort column, newest first by default; ties
// fall back to the serial, so the order is stable across reloads.
func (p *Page) sort() {
	now := p.c.Now()
	by := func(a, b store.Cert) int {
		switch p.sortCol {
		case 0:
			return cmp.Compare(a.Serial, b.Serial)
		case 1:
			return cmp.Compare(strings.ToLower(a.CN), strings.ToLower(b.CN))
		case 2:
			return cmp.Compare(a.DisplayState(now), b.DisplayState(now))
		case 3:
			return a.NotAfter.Compare(b.NotAfter)
		case 4:
			return cmp.Compare(p.live[a.ID], p.live[b.ID])
		case 5:
			return a.LastSeen.Compare(b.LastSeen)
		}
		return b.CreatedAt.Compare(a.CreatedAt)
	}
	slices.SortStableFunc(p.certs, func(a, b store.Cert) int {
		c := by(a, b)
		if p.sortDesc {
			c = -c
		}
		if c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	p.table.SetSort(p.sortCol, p.sortDesc)
}

// nextSort steps the sort column (o) or reverses the order (O).
func (p *Page) nextSort(reverse bool) {
	p.sortCol, p.sortDesc = table.NextSort(sortColumns, p.sortCol, p.sortDesc, reverse)
	p.sort()
	p.refilter()
}

// SetSessions replaces the live sessions behind the LIVE column and the
// details view.
func (p *Page) SetSessions(sessions []broker.Session) {
	p.sessions = sessions
	clear(p.live)
	for _, s := range sessions {
		if s.CertID != "" {
			p.live[s.CertID]++
		}
	}
	if p.sortCol == 4 { // by live sessions
		p.sort()
		p.refilter()
	}
	p.refreshDetails()
}

// SetHistory delivers the audit history requested by a intent.History
// for the certificate id.
func (p *Page) SetHistory(id string, recs []store.AuditRecord, err error) {
	if id != p.selected {
		return // the operator moved on; a stale answer must not show
	}
	p.historyFor, p.history, p.historyErr = id, recs, err
	p.refreshDetails()
}

// SetRights sets what the policy lets the certificate id publish and
// subscribe, one line each, shown in its details.
func (p *Page) SetRights(id string, lines []string) {
	p.rightsFor, p.rights = id, lines
	p.refreshDetails()
}

// Selected returns the certificate under the cursor.
func (p *Page) Selected() (store.Cert, bool) {
	i := p.table.Cursor()
	if i < 0 {
		return store.Cert{}, false
	}
	return p.certs[p.shown[i]], true
}

// Capturing implements common.Page.
func (p *Page) Capturing() bool {
	return p.filter.Typing() || p.mode == modeConfirm || p.mode == modeForm || p.mode == modeCreated
}

// refilter recomputes the matching rows and puts the cursor back on the
// certificate it was on.
func (p *Page) refilter() {
	q, now := p.filter.Query(), p.c.Now()
	p.shown = p.shown[:0]
	at := -1
	for i, c := range p.certs {
		if q == "" || strings.Contains(strings.ToLower(c.CN), q) || strings.Contains(c.Serial, q) ||
			strings.Contains(c.DisplayState(now), q) {
			if c.ID == p.selected {
				at = len(p.shown)
			}
			p.shown = append(p.shown, i)
		}
	}
	p.table.SetLen(len(p.shown))
	if at >= 0 {
		p.table.SetCursor(at)
	} else if p.mode == modeDetails {
		p.mode = modeList // its certificate is gone; never show or act on another
	}
	p.afterMove()
	p.refreshDetails()
}

// afterMove records the selected serial and enables only the actions the
// selected certificate's stored state allows; pki owns the lifecycle table.
func (p *Page) afterMove() {
	c, ok := p.Selected()
	p.selected = c.ID
	p.keys.Open.SetEnabled(ok)
	p.keys.SuspendCert.SetEnabled(ok && pki.OperatorCan(c.State, store.StateSuspended))
	p.keys.Reactivate.SetEnabled(ok && pki.OperatorCan(c.State, store.StateActive))
	p.keys.Revoke.SetEnabled(ok && pki.OperatorCan(c.State, store.StateRevoked))
	p.keys.Back.SetEnabled(p.mode != modeList || p.filter.Active())
}

// Update implements common.Page.
func (p *Page) Update(msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	switch p.mode {
	case modeForm:
		return p.updateForm(k)
	case modeConfirm:
		return p.updateConfirm(k)
	case modeCreated:
		if key.Matches(k, p.keys.Submit, p.keys.Back) {
			p.setMode(modeList)
		}
		return nil
	case modeDetails:
		return p.updateDetails(k)
	}
	if cmd, ok := p.filter.Handle(k, p.refilter); ok {
		p.afterMove()
		return cmd
	}
	switch {
	case key.Matches(k, p.keys.Open):
		return p.openDetails()
	case key.Matches(k, p.keys.Sort, p.keys.SortReverse):
		p.nextSort(key.Matches(k, p.keys.SortReverse))
		return nil
	}
	if cmd, ok := p.action(k); ok {
		return cmd
	}
	p.table, _ = p.table.Update(k)
	p.afterMove()
	return nil
}

// action handles the lifecycle keys shared by the list and the details.
// Disabled bindings never match, so a key that does not apply is ignored.
func (p *Page) action(k tea.KeyMsg) (tea.Cmd, bool) {
	c, _ := p.Selected()
	switch {
	case key.Matches(k, p.keys.New):
		return p.OpenForm(), true
	case key.Matches(k, p.keys.SuspendCert):
		return common.Emit(intent.Transition{ID: c.ID, CN: c.CN, To: store.StateSuspended}), true
	case key.Matches(k, p.keys.Reactivate):
		return common.Emit(intent.Transition{ID: c.ID, CN: c.CN, To: store.StateActive}), true
	case key.Matches(k, p.keys.Revoke):
		// The dialog is bound to this certificate: a reload while it is open
		// may move the cursor, and "y" must not revoke a different one.
		p.back, p.target = p.mode, c
		p.setMode(modeConfirm)
		return nil, true
	}
	return nil, false
}

// OpenForm opens the create form; closing it returns to the current mode.
func (p *Page) OpenForm() tea.Cmd {
	p.back = p.mode
	p.setMode(modeForm)
	return p.form.open()
}

// Details shows the details of the certificate id, clearing the filter if
// it hides it, and asks for its history. It reports false when there is no
// such certificate.
func (p *Page) Details(id string) (tea.Cmd, bool) {
	if !slices.ContainsFunc(p.certs, func(c store.Cert) bool { return c.ID == id }) {
		return nil, false
	}
	p.filter.Clear()
	p.selected = id
	p.mode = modeList
	p.refilter()
	return p.openDetails(), true
}

// Detailing returns the ID of the certificate shown in the details view,
// if any.
func (p *Page) Detailing() (string, bool) {
	return p.selected, p.mode == modeDetails
}

func (p *Page) openDetails() tea.Cmd {
	p.setMode(modeDetails)
	p.history, p.historyErr, p.historyFor = nil, nil, ""
	p.vp.GotoTop()
	p.refreshDetails()
	return common.Emit(intent.History{ID: p.selected})
}

func (p *Page) updateConfirm(k tea.KeyMsg) tea.Cmd {
	switch {
	case key.Matches(k, p.keys.Confirm, p.keys.ConfirmPurge):
		c := p.target
		p.setMode(p.back)
		return common.Emit(intent.Transition{ID: c.ID, CN: c.CN, To: store.StateRevoked,
			PurgeRetained: key.Matches(k, p.keys.ConfirmPurge)})
	case key.Matches(k, p.keys.Cancel):
		p.setMode(p.back)
	}
	return nil
}

func (p *Page) setMode(m mode) {
	p.mode = m
	p.afterMove()
}

// View implements common.Page.
func (p *Page) View() string {
	var out string
	switch p.mode {
	case modeDetails:
		out = p.vp.View()
	case modeConfirm:
		out = p.confirmView()
	case modeForm:
		out = p.formView()
	case modeCreated:
		out = p.createdView()
	default:
		out = p.summary() + "\n" + p.table.View(p.row(p.c.Now()))
	}
	return common.Fit(out, p.width, p.height)
}

func (p *Page) summary() string {
	if p.filter.Active() {
		return p.filter.Summary(len(p.shown), len(p.certs))
	}
	return p.c.Styles.Summary.Render(common.Plural(len(p.certs), "certificate"))
}
