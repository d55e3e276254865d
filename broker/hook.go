package broker

import (
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// gateHook is the only auth hook: mochi admits a client if any auth hook
// does, so nothing that allows everyone may be registered beside it. It
// re-checks a session against the Authorizer's state, registers it in the
// index and counts messages.
type gateHook struct {
	mqtt.HookBase
	b *Broker
}

// ID names the hook in mochi's logs.
func (h *gateHook) ID() string { return "gatehouse-gate" }

// Provides lists the hook methods mochi should call.
func (h *gateHook) Provides(b byte) bool {
	switch b { // mochi asks on every hook call: a switch, not a slice search
	case mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnSubscribed, mqtt.OnSessionEstablish,
		mqtt.OnDisconnect, mqtt.OnPacketRead, mqtt.OnPublish, mqtt.OnPacketSent:
		return true
	}
	return false
}

// OnConnectAuthenticate admits or refuses a CONNECT and registers the
// session. The check (certificate state and expiry, or the transport's mode
// for a client without a certificate) and the registration happen under the
// index mutex that DropSerial and SetClientAuth take after changing the state:
// a connect racing with them is either refused here, with a failed CONNACK,
// or registered and then found and dropped by them. Registering before
// CONNACK means a client that saw CONNACK is already listed.
func (h *gateHook) OnConnectAuthenticate(cl *mqtt.Client, _ packets.Packet) bool {
	p := peerOf(cl)
	if p == nil {
		return false
	}
	x := &h.b.idx
	x.mu.Lock()
	reason := h.b.admit(p, time.Now())
	if owner := x.byClient[cl.ID]; reason == "" && owner != nil && owner.principal() != p.principal() {
		reason = clientIDRefusal(owner, p)
	}
	if x.stopping {
		reason = CauseStopped
	}
	if reason == "" {
		p.cl, p.clientID, p.connectedAt = cl, cl.ID, time.Now()
		x.addLocked(p)
	}
	x.mu.Unlock()
	if reason != "" {
		h.b.emit(p.event(EventRefused, reason, cl.ID))
		return false
	}
	h.b.emit(p.event(EventConnected, "", cl.ID))
	h.b.checkWill(cl, p)
	return true
}

// OnSessionEstablish runs just before mochi takes over an older session with
// the same client ID; marking it here names the cause before mochi closes it.
// A session is bound to its principal (see peer.principal): a persistent
// session left by another one (live ones were refused at CONNECT) is discarded
// rather than inherited, so no device can read another's subscriptions and
// queued messages.
func (h *gateHook) OnSessionEstablish(cl *mqtt.Client, _ packets.Packet) {
	old, ok := h.b.server.Clients.Get(cl.ID)
	if !ok || old == cl {
		return
	}
	if prev, cur := peerOf(old), peerOf(cl); prev != nil && cur != nil && prev.principal() != cur.principal() {
		h.b.server.UnsubscribeClient(old)
		old.ClearInflights()
		h.b.server.Clients.Delete(old.ID)
		return
	}
	if p := peerOf(old); p != nil {
		h.b.idx.mu.Lock()
		if p.live && p.cause == "" {
			p.cause = CauseTakenOver
		}
		h.b.idx.mu.Unlock()
	}
}

// OnDisconnect ends the session with the cause the broker recorded, or the
// one the connection's end tells.
func (h *gateHook) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	if p := peerOf(cl); p != nil {
		h.b.flushDenials(p)
		h.b.reportDrops(p, cl.ID)
		h.b.endSession(p, causeOf(cl, err))
	}
}

// OnPacketRead rejects every packet of a session the broker has decided to
// drop (which ends mochi's read loop), ends a session over its publish rate
// and counts the inbound PUBLISH packets that pass, allowed by the policy or
// not. The rate check is here rather than in a hook of its own because
// mochi copies the whole packet into and out of every hook it calls.
func (h *gateHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	p := peerOf(cl)
	if p == nil {
		return pk, nil
	}
	if p.dropped.Load() {
		return pk, packets.ErrRejectPacket
	}
	if pk.FixedHeader.Type != packets.Publish {
		return pk, nil
	}
	if !h.b.withinRate(cl, p, pk.FixedHeader.Remaining) {
		return pk, packets.ErrRejectPacket
	}
	p.msgsIn.Add(1)
	return pk, nil
}

// OnPublish applies the retained caps, answers in-band renewal and hands
// each other PUBLISH the policy allowed to Config.OnPublish: mochi calls it
// after OnACLCheck (and after resolving a topic alias), so refused messages
// never reach telemetry.
func (h *gateHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	p := peerOf(cl)
	if pk.FixedHeader.Retain {
		h.b.capRetained(cl, p, &pk)
	}
	if pk.TopicName == RenewTopic {
		return h.b.renew.handle(cl, pk)
	}
	if fn := h.b.cfg.OnPublish; fn != nil && p != nil {
		fn(cl.ID, pk.TopicName, pk.Payload, time.Now())
	}
	return pk, nil
}

// OnPacketSent counts outbound PUBLISH packets.
func (h *gateHook) OnPacketSent(cl *mqtt.Client, pk packets.Packet, _ []byte) {
	if p := peerOf(cl); p != nil && pk.FixedHeader.Type == packets.Publish {
		p.msgsOut.Add(1)
	}
}

// admit returns why p may not hold a session now, or "": each credential
// it presented must still be valid, and together they must satisfy the
// transport's mode.
func (b *Broker) admit(p *peer, now time.Time) string {
	if p.certID != "" {
		if now.After(p.notAfter) {
			return CauseExpired
		}
		if err := b.cfg.Authorizer.Allowed(p.certID); err != nil {
			return reasonOf(err)
		}
	}
	if p.sub != "" {
		if reason := b.admitToken(p, now); reason != "" {
			return reason
		}
	}
	return b.missing(p)
}

// causeOf names why a session the broker did not close ended.
func causeOf(cl *mqtt.Client, err error) string {
	stop := cl.StopCause()
	switch {
	case cl.IsTakenOver() || errors.Is(stop, packets.ErrSessionTakenOver):
		return CauseTakenOver
	case isTimeout(err):
		return CauseKeepalive
	case err == nil, errors.Is(stop, packets.CodeDisconnect), errors.Is(err, io.EOF),
		errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET), errors.Is(err, mqtt.ErrConnectionClosed):
		return CauseClientClosed
	}
	var code packets.Code
	if errors.As(err, &code) {
		return "protocol error: " + code.Reason
	}
	return "connection lost: " + err.Error()
}
