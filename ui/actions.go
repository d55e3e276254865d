package ui

import (
	"fmt"
	"path/filepath"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/ui/common"
	"github.com/gatehouse/gatehouse/ui/intent"
	"github.com/gatehouse/gatehouse/ui/pages/acl"
	"github.com/gatehouse/gatehouse/ui/termsafe"
)

// verbs names a transition target for the status line: the command word,
// the progressive and the past tense.
var verbs = map[store.State][3]string{
	store.StateSuspended: {"suspend", "suspending", "suspended"},
	store.StateActive:    {"reactivate", "reactivating", "reactivated"},
	store.StateRevoked:   {"revoke", "revoking", "revoked"},
}

// handleIntent turns a page's intent into a Backend call in a command.
func (m *Model) handleIntent(msg tea.Msg) (tea.Cmd, bool) {
	switch in := msg.(type) {
	case intent.TokenTransition:
		m.info(fmt.Sprintf("%s token %s…", verbs[in.To][1], termsafe.Clean(in.Ref)))
		return tokenTransition(m.ctx, m.backend, in), true
	case intent.Transition:
		m.info(fmt.Sprintf("%s %s…", verbs[in.To][1], certName(in.CN, in.ID)))
		return transition(m.ctx, m.backend, in), true
	case intent.Create:
		m.info("creating certificate…")
		req := app.CreateRequest{CN: in.CN, TTL: in.TTL, KeyType: in.KeyType, OutDir: in.OutDir}
		return createCert(m.ctx, m.backend, req), true
	case intent.History:
		cmd := history(m.ctx, m.backend, in.ID)
		m.refreshRights() // the details just opened
		return cmd, true
	case intent.Toggle:
		m.info(fmt.Sprintf("switching client-cert auth %s for %s…", onOff(in.On), in.Transport))
		return setClientAuth(m.ctx, m.backend, in), true
	case intent.Export:
		return exportCA(m.ctx, m.backend, in.Path), true
	case intent.Kick:
		m.info(fmt.Sprintf("kicking %s…", termsafe.Clean(in.ClientID)))
		return kick(m.ctx, m.backend, in), true
	case intent.Open:
		m.page = PageCertificates
		cmd, _ := m.certs.Details(in.ID)
		return cmd, true
	case acl.ChangedMsg:
		// The Policy view's own answer: it goes to that page whichever view
		// is shown, and a snapshot brings the new posture to the header.
		return tea.Batch(m.policy.Update(in), m.reload(false)), true
	case resolvedMsg:
		return m.handleResolved(in), true
	}
	return nil, false
}

// handleResult reports the outcome of an action in the status line and
// updates the state it touched.
func (m *Model) handleResult(msg tea.Msg) (tea.Cmd, bool) {
	switch msg := msg.(type) {
	case tokenTransitionMsg:
		return m.tokenDone(msg), true
	case transitionMsg:
		in := msg.intent
		if msg.err != nil {
			m.fail(fmt.Errorf("%s %s: %w", verbs[in.To][0], certName(in.CN, in.ID), msg.err))
			if msg.res.Cert.ID != "" { // revoked, but the purge failed
				m.putCert(msg.res.Cert)
				return m.reload(false), true
			}
			return nil, true
		}
		c := msg.res.Cert
		done := fmt.Sprintf("%s %s, dropped %s", verbs[in.To][2], certName(c.CN, c.Serial),
			common.Plural(msg.res.Dropped, "session"))
		if in.PurgeRetained {
			done += ", purged " + common.Plural(msg.purged, "retained message")
		}
		m.info(done)
		m.putCert(c)
		return m.reload(false), true
	case createdMsg:
		if msg.err != nil {
			m.certs.CreateFailed(msg.err)
			m.fail(fmt.Errorf("create certificate: %w", msg.err))
			return nil, true
		}
		c := msg.res.Cert
		m.putCert(c)
		m.certs.Created(c, msg.res.Files, msg.res.Warning)
		m.info(fmt.Sprintf("created %s; only copy of the key: %s", certName(c.CN, c.Serial), keyFile(msg.res.Files)))
		if w := msg.res.Warning; w != "" {
			m.warn(fmt.Sprintf("created %s; warning: %s", certName(c.CN, c.Serial), w))
		}
		return nil, true
	case historyMsg:
		m.certs.SetHistory(msg.id, msg.recs, msg.err)
		return nil, true
	case clientAuthMsg:
		in := msg.intent
		if msg.err != nil {
			m.fail(fmt.Errorf("switch client-cert auth %s for %s: %w", onOff(in.On), in.Transport, msg.err))
			return nil, true
		}
		m.info(fmt.Sprintf("client-cert auth %s for %s, dropped %s", onOff(in.On), in.Transport,
			common.Plural(msg.dropped, "session")))
		return m.reload(false), true
	case kickedMsg:
		if msg.err != nil {
			m.fail(fmt.Errorf("kick %s: %w", termsafe.Clean(msg.clientID), msg.err))
		} else {
			m.info(fmt.Sprintf("kicked %s; it may reconnect (suspend its certificate to keep it out)", termsafe.Clean(msg.clientID)))
		}
		return nil, true
	case exportedMsg:
		if msg.err != nil {
			m.fail(fmt.Errorf("export ca.pem: %w", msg.err))
		} else {
			m.info("exported ca.pem to " + msg.path)
		}
		return nil, true
	}
	return nil, false
}

// reload asks for a snapshot unless one is already on its way; a full
// reload (resync, resume) always goes, since the one in flight may predate
// the lost events.
func (m *Model) reload(full bool) tea.Cmd {
	if m.inflight > 0 && !full {
		m.pending = true
		return nil
	}
	m.inflight++
	return loadSnapshot(m.ctx, m.backend, full, m.gen)
}

func (m *Model) info(text string) { m.status = status{text: text, at: m.clock()} }

// warn shows text in red, without the "error:" of a failure: the action
// worked, but the operator should act (a key written inside a git work tree).
func (m *Model) warn(text string) { m.status = status{text: text, warn: true, at: m.clock()} }

func (m *Model) fail(err error) { m.status = status{text: err.Error(), err: true, at: m.clock()} }

// failConn reports a connectivity failure of one origin; the title says
// at once that the backend is gone.
func (m *Model) failConn(origin string, err error) {
	m.status = status{text: err.Error(), err: true, origin: origin, at: m.clock()}
	if m.offline.IsZero() {
		m.offline = m.clock()
	}
}

// recovered clears a connectivity failure of that origin.
func (m *Model) recovered(origin string) {
	if m.status.origin == origin {
		m.status = status{}
	}
	if origin == "snapshot" {
		m.offline = time.Time{}
	}
}

// certName names a certificate in the status line by CN and short serial;
// ref is its serial or ID.
func certName(cn, ref string) string {
	return fmt.Sprintf("%s (%s)", cn, common.ShortSerial(ref))
}

// keyFile is where a created certificate's key went: the file named
// client.key among those written, else the last one.
func keyFile(files []string) string {
	for _, f := range files {
		if filepath.Base(f) == "client.key" {
			return f
		}
	}
	if len(files) == 0 {
		return "not reported"
	}
	return files[len(files)-1]
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
