package ui

import (
	"fmt"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/ui/common"
	"github.com/gatehouse/gatehouse/ui/intent"
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
	case intent.Transition:
		m.info(fmt.Sprintf("%s %s…", verbs[in.To][1], certName(in.CN, in.Serial)))
		return transition(m.ctx, m.backend, in), true
	case intent.Create:
		m.info("creating certificate…")
		req := app.CreateRequest{CN: in.CN, TTL: in.TTL, KeyType: in.KeyType, OutDir: in.OutDir}
		return createCert(m.ctx, m.backend, req), true
	case intent.History:
		return history(m.ctx, m.backend, in.Serial), true
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
		cmd, _ := m.certs.Details(in.Serial)
		return cmd, true
	case resolvedMsg:
		return m.handleResolved(in), true
	}
	return nil, false
}

// handleResult reports the outcome of an action in the status line and
// updates the state it touched.
func (m *Model) handleResult(msg tea.Msg) (tea.Cmd, bool) {
	switch msg := msg.(type) {
	case transitionMsg:
		in := msg.intent
		if msg.err != nil {
			m.fail(fmt.Errorf("%s %s: %w", verbs[in.To][0], certName(in.CN, in.Serial), msg.err))
			return nil, true
		}
		c := msg.res.Cert
		m.info(fmt.Sprintf("%s %s, dropped %s", verbs[in.To][2], certName(c.CN, c.Serial),
			common.Plural(msg.res.Dropped, "session")))
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
		m.certs.Created(c, msg.res.Files)
		m.info(fmt.Sprintf("created %s; the private key is not kept", certName(c.CN, c.Serial)))
		return nil, true
	case historyMsg:
		m.certs.SetHistory(msg.serial, msg.recs, msg.err)
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

func certName(cn, serial string) string {
	return fmt.Sprintf("%s (%s)", cn, common.ShortSerial(serial))
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
