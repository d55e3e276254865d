package ui

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker"
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
