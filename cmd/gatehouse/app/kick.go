package app

import (
	"context"
	"fmt"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/store"
)

// Kick implements Service: it disconnects the live session of clientID,
// audited with its actor, and leaves its certificate as it is, so the device
// may reconnect. Suspend the certificate to keep it out.
func (a *App) Kick(ctx context.Context, clientID string) error {
	br := a.broker()
	var sess broker.Session
	found := false
	if br != nil {
		for _, s := range br.Sessions() {
			if s.ClientID == clientID {
				sess, found = s, true
				break
			}
		}
	}
	if !found {
		return fmt.Errorf("no live session with client id %q: %w", clientID, store.ErrNotFound)
	}
	actor := a.actorOf(ctx)
	if _, err := a.st.AppendAudit(store.AuditRecord{At: a.now(), Actor: actor, Action: "session.kick",
		Serial: sess.Serial, CN: sess.CN, Detail: clientID}); err != nil {
		return fmt.Errorf("audit kick of %s: %w", clientID, err)
	}
	if !br.Kick(clientID, broker.CauseKicked+" "+actor) {
		return fmt.Errorf("session %q ended before it could be kicked: %w", clientID, store.ErrNotFound)
	}
	return nil
}
