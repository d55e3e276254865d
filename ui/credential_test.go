package ui

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

// The Connections view names how each session authenticated: a token alone
// by its subject, a certificate with a token marked +jwt.
func TestConnectionsShowTheCredential(t *testing.T) {
	f := newFake()
	f.snap.Sessions = append(f.snap.Sessions,
		broker.Session{ClientID: "meter-7", Credential: broker.CredentialJWT, Subject: "meter-7", Transport: broker.TransportMQTTS,
			Remote: "10.0.0.7:50000", ConnectedAt: t0.Add(-time.Minute), LastActivity: t0},
		broker.Session{ClientID: "gw-2", Serial: "3f2a9c1b7d5e4a01", CertID: dev1ID, CN: "dev1", Credential: broker.CredentialCertJWT,
			Subject: "gw-2", Transport: broker.TransportMQTTS, Remote: "10.0.0.8:50000", ConnectedAt: t0.Add(-time.Minute), LastActivity: t0})
	m, _ := loaded(t, f, 120, 40, withStartPage(PageConnections))
	view := m.View()
	requireContains(t, view, "jwt:meter-7", "dev1 +jwt", "anonymous")
}

// ":token suspend SUB" acts on a token subject as ":suspend" on a
// certificate: the backend is called, the session drops, the status line
// says so; a revoke asks first.
func TestCommandLineActsOnTokenSubjects(t *testing.T) {
	f := newFake()
	f.snap.Sessions = append(f.snap.Sessions, broker.Session{ClientID: "meter-7", Credential: broker.CredentialJWT, Subject: "meter-7",
		Transport: broker.TransportMQTTS, Remote: "10.0.0.7:50000", ConnectedAt: t0.Add(-time.Minute), LastActivity: t0})
	m, _ := loaded(t, f, 120, 40, withStartPage(PageConnections))
	press(m, ":", "token suspend meter-7", "enter")
	requireContains(t, m.View(), "suspended subject meter-7, dropped 1 session")
	if got := lastCall(f); got != `TokenTransition meter-7 suspended ""` {
		t.Fatalf("backend call %q", got)
	}

	press(m, ":", "token revoke meter-7", "enter")
	requireContains(t, m.View(), "revoke token meter-7?")
	if got := lastCall(f); got != `TokenTransition meter-7 suspended ""` {
		t.Fatalf("a revoke went out before y: %q", got)
	}
	press(m, "y")
	if got := lastCall(f); got != `TokenTransition meter-7 revoked ""` {
		t.Fatalf("backend call after y %q", got)
	}
	requireContains(t, m.View(), "revoked subject meter-7")
}

func lastCall(f *fakeBackend) string {
	calls := f.Calls()
	if len(calls) == 0 {
		return ""
	}
	return calls[len(calls)-1]
}

// :tokens shows the token subjects over the current view; s suspends the
// one under the cursor, x asks before it revokes, esc goes back.
func TestTokensViewActsOnSubjects(t *testing.T) {
	f := newFake()
	f.snap.TokenSubjects = []app.TokenSubjectView{
		{TokenSubject: store.TokenSubject{Subject: "meter-7", State: store.StateActive, LastSeen: t0}, Sessions: 1},
		{TokenSubject: store.TokenSubject{Subject: "pump-2", State: store.StateSuspended}},
	}
	m, _ := loaded(t, f, 120, 40, withStartPage(PageConnections))
	press(m, ":", "tokens", "enter")
	requireContains(t, m.View(), "2 token subjects", "meter-7", "pump-2", "suspended", "never")
	press(m, "s")
	if got := lastCall(f); got != `TokenTransition meter-7 suspended ""` {
		t.Fatalf("s called %q", got)
	}
	requireContains(t, m.View(), "suspended subject meter-7", "2 token subjects")
	press(m, "down", "x")
	requireContains(t, m.View(), "revoke token subject pump-2? final")
	if got := lastCall(f); got != `TokenTransition meter-7 suspended ""` {
		t.Fatalf("x revoked before y: %q", got)
	}
	press(m, "y")
	if got := lastCall(f); got != `TokenTransition pump-2 revoked ""` {
		t.Fatalf("y called %q", got)
	}
	press(m, "esc")
	requireLacks(t, m.View(), "token subjects")
	requireContains(t, m.View(), "CLIENT")
}

// A session that connects between snapshots shows its credential at once:
// the connected event carries it.
func TestConnectedEventCarriesTheCredential(t *testing.T) {
	m, _ := loaded(t, newFake(), 120, 40, withStartPage(PageConnections))
	ch := subscribed(m)
	deliver(m, ch, broker.Event{At: t0, Type: broker.EventConnected, ClientID: "meter-9", Transport: broker.TransportMQTTS,
		Remote: "10.0.0.9:1", Subject: "meter-9", Credential: broker.CredentialJWT})
	requireContains(t, m.View(), "jwt:meter-9")
}
