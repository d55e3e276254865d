package broker

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// CauseKicked is the disconnect cause of a session an operator kicked.
const CauseKicked = "kicked by operator"

// Kick closes the live session of clientID with DISCONNECT 0x98
// (administrative action) and reports whether there was one. Its
// disconnected event carries cause (CauseKicked when empty). Unlike
// DropSerial it does not keep the device out: it may reconnect at once.
// It returns once the socket is closed; never call it from a mochi hook.
func (b *Broker) Kick(clientID, cause string) bool {
	if cause == "" {
		cause = CauseKicked
	}
	b.idx.mu.Lock()
	p := b.idx.byClient[clientID]
	var victims []*mqtt.Client
	if p != nil {
		victims = b.idx.takeLocked(map[*peer]struct{}{p: {}}, func(*peer) bool { return true }, cause)
	}
	b.idx.mu.Unlock()
	b.disconnect(victims, packets.ErrAdministrativeAction)
	return p != nil
}
