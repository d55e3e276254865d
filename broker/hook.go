package broker

import (
	"bytes"
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
	return bytes.Contains([]byte{
		mqtt.OnConnectAuthenticate,
		mqtt.OnACLCheck,
		mqtt.OnSessionEstablish,
		mqtt.OnSessionEstablished,
		mqtt.OnDisconnect,
		mqtt.OnPacketRead,
		mqtt.OnPacketSent,
	}, []byte{b})
}

// OnConnectAuthenticate refuses a CONNECT whose certificate changed state or
// expired since the handshake, or that has no certificate while the
// transport's client-cert auth is on. It records the client for Close.
func (h *gateHook) OnConnectAuthenticate(cl *mqtt.Client, _ packets.Packet) bool {
	p := peerOf(cl)
	if p == nil {
		return false
	}
	reason := h.b.admit(p, time.Now())
	if reason == "" {
		h.b.idx.mu.Lock()
		p.cl = cl
		h.b.idx.mu.Unlock()
		return true
	}
	h.b.emit(p.event(EventRefused, reason, cl.ID))
	return false
}

// OnACLCheck allows every topic: the certificate is the only credential.
func (h *gateHook) OnACLCheck(*mqtt.Client, string, bool) bool { return true }

// OnSessionEstablish runs just before mochi takes over an older session with
// the same client ID; marking it here names the cause before mochi closes it.
func (h *gateHook) OnSessionEstablish(cl *mqtt.Client, _ packets.Packet) {
	h.b.idx.mu.Lock()
	defer h.b.idx.mu.Unlock()
	if old := h.b.idx.byID[cl.ID]; old != nil && old.cl != cl && old.cause == "" {
		old.cause = CauseTakenOver
	}
}

// OnSessionEstablished registers the session. mochi calls it after CONNACK
// and always follows it with OnDisconnect, which is why registration is here
// and not in OnConnectAuthenticate. The check and the registration share the
// index mutex with DropSerial and SetClientAuth, which change the state first
// and then take the mutex: a connect racing with them is either refused here
// or found and dropped by them.
func (h *gateHook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	p := peerOf(cl)
	if p == nil {
		return
	}
	x := &h.b.idx
	x.mu.Lock()
	reason := h.b.admit(p, time.Now())
	if x.stopping {
		reason = CauseStopped
	}
	if reason == "" {
		p.clientID, p.connectedAt = cl.ID, time.Now()
		x.addLocked(p)
	}
	x.mu.Unlock()
	if reason == "" {
		h.b.emit(p.event(EventConnected, "", cl.ID))
		return
	}
	h.b.emit(p.event(EventRefused, reason, cl.ID))
	// Not from inside the hook (mochi #492): a helper goroutine disconnects.
	go func() { _ = h.b.server.DisconnectClient(cl, packets.ErrAdministrativeAction) }()
}

// OnDisconnect unregisters the session and emits its end with the cause.
func (h *gateHook) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	p := peerOf(cl)
	if p == nil {
		return
	}
	x := &h.b.idx
	x.mu.Lock()
	x.removeLocked(p)
	registered, cause, id := p.registered, p.cause, p.clientID
	x.mu.Unlock()
	if !registered {
		return
	}
	if cause == "" {
		cause = causeOf(cl, err)
	}
	h.b.emit(p.event(EventDisconnected, cause, id))
}

// OnPacketRead counts inbound PUBLISH packets.
func (h *gateHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if p := peerOf(cl); p != nil && pk.FixedHeader.Type == packets.Publish {
		p.msgsIn.Add(1)
	}
	return pk, nil
}

// OnPacketSent counts outbound PUBLISH packets.
func (h *gateHook) OnPacketSent(cl *mqtt.Client, pk packets.Packet, _ []byte) {
	if p := peerOf(cl); p != nil && pk.FixedHeader.Type == packets.Publish {
		p.msgsOut.Add(1)
	}
}

// admit returns why p may not hold a session now, or "".
func (b *Broker) admit(p *peer, now time.Time) string {
	if p.serial == "" {
		if b.ClientAuth(p.transport) {
			return ReasonNoClientCert
		}
		return ""
	}
	if now.After(p.notAfter) {
		return CauseExpired
	}
	if err := b.cfg.Authorizer.Allowed(p.serial); err != nil {
		return reasonOf(err)
	}
	return ""
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
