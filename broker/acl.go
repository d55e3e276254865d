package broker

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/gatehouse/gatehouse/broker/policy"
)

// Denied events per session: the first denyBurst in each denyWindow are
// emitted; the rest are counted and summed up in one event when the window
// has passed (at the next denial, or when the session ends), so a device
// retrying a forbidden publish in a loop cannot flood the event stream.
const (
	denyBurst  = 10
	denyWindow = 10 * time.Second
)

// SetPolicy swaps the authorization policy. It applies at once to every
// session: each rebuilds its compiled rules at its next check, so a publish,
// a subscribe and every delivery to an existing subscription are decided by
// the new policy, and a live session's will the new policy would not let it
// publish is cleared now (a cleared will stays cleared). Nil allows every
// topic.
func (b *Broker) SetPolicy(p *policy.Policy) {
	b.policy.Store(p)
	if p == nil {
		return
	}
	b.idx.mu.Lock()
	live := map[*peer]*mqtt.Client{}
	for _, set := range b.idx.byCert {
		for p := range set {
			if p.cl != nil {
				live[p] = p.cl
			}
		}
	}
	b.idx.mu.Unlock()
	for p, cl := range live { // checkWill emits: without the index mutex
		b.checkWill(cl, p)
	}
}

// Denials returns how many publishes and subscriptions of the certificate
// with ID id (Session.CertID) the policy refused since the broker started;
// Denials("") counts those of sessions without a certificate.
func (b *Broker) Denials(id string) uint64 {
	if c, ok := b.denials.Load(id); ok {
		return c.(*atomic.Uint64).Load()
	}
	return 0
}

// aclSession returns p's compiled policy, rebuilding it when the broker's
// policy changed; nil when the broker has none. Concurrent rebuilds build
// the same value, so the last store wins harmlessly.
func (b *Broker) aclSession(cl *mqtt.Client, p *peer) *policy.Session {
	pol := b.policy.Load()
	if pol == nil {
		return nil
	}
	if s := p.acl.Load(); s != nil && s.From() == pol {
		return s
	}
	s := pol.Session(policy.Identity{Anonymous: p.serial == "" && p.sub == "", Serial: p.serial, CertID: p.certID, CN: p.cn, Issuer: p.issuer, ClientID: cl.ID, Subject: p.sub})
	p.acl.Store(s)
	return s
}

// OnACLCheck decides a publish (write) or, for reading, a subscription
// filter or a delivery: mochi asks with write=false both when a client
// subscribes (topic is the filter) and before each delivery (topic is the
// message's), so a rule changed since the subscription applies to every
// message. Denied publishes are reported here; denied subscriptions in
// OnSubscribed, where they are known to be subscriptions.
func (h *gateHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if write && topic == RenewTopic {
		return h.b.renew.allows(cl)
	}
	p := peerOf(cl)
	if p == nil {
		return false
	}
	s := h.b.aclSession(cl, p)
	if s == nil {
		return true
	}
	if write {
		ok, rule := s.Publish(topic)
		if !ok {
			h.b.denied(p, cl.ID, policy.ActionPublish, topic, rule)
		}
		return ok
	}
	if strings.HasPrefix(topic, "$share/") || strings.IndexByte(topic, '+') >= 0 || strings.IndexByte(topic, '#') >= 0 {
		ok, _ := s.Subscribe(topic)
		return ok
	}
	ok, _ := s.Receive(topic)
	return ok
}

// OnSubscribed reports each filter of a SUBSCRIBE the policy refused.
func (h *gateHook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, codes []byte) {
	p := peerOf(cl)
	if p == nil {
		return
	}
	s := h.b.aclSession(cl, p)
	if s == nil {
		return
	}
	for i, f := range pk.Filters {
		if i < len(codes) && codes[i] < packets.ErrUnspecifiedError.Code {
			continue
		}
		if ok, rule := s.Subscribe(f.Filter); !ok {
			h.b.denied(p, cl.ID, policy.ActionSubscribe, f.Filter, rule)
		}
	}
}

// checkWill drops a will the policy would not let the client publish: mochi
// sends wills without an ACL check. Called at CONNECT and on SetPolicy.
func (b *Broker) checkWill(cl *mqtt.Client, p *peer) {
	s := b.aclSession(cl, p)
	if s == nil || atomic.LoadUint32(&cl.Properties.Will.Flag) == 0 {
		return
	}
	if ok, rule := s.Publish(cl.Properties.Will.TopicName); !ok {
		atomic.StoreUint32(&cl.Properties.Will.Flag, 0)
		b.denied(p, cl.ID, policy.ActionPublish, cl.Properties.Will.TopicName, rule)
	}
}

// denyLimiter is a session's share of the denied event stream. Guarded by mu.
type denyLimiter struct {
	mu         sync.Mutex
	since      time.Time // start of the current window
	shown      int       // events emitted in it
	suppressed int       // events counted and not emitted in it
	last       Event     // the last of those
}

// summaryLocked returns the event that sums up the suppressed denials, and
// starts a new window at now; ok is false when none were suppressed.
func (d *denyLimiter) summaryLocked(now time.Time) (Event, bool) {
	n, ev := d.suppressed, d.last
	d.since, d.shown, d.suppressed = now, 0, 0
	if n == 0 {
		return Event{}, false
	}
	ev.At = now
	ev.Reason = fmt.Sprintf("%d more denials not shown (last: %s)", n, ev.Reason)
	return ev, true
}

// denied counts a refusal for p's certificate and emits its event, within
// the session's rate limit. Never called with the index mutex held.
func (b *Broker) denied(p *peer, clientID, action, topic, rule string) {
	c, ok := b.denials.Load(p.certID)
	if !ok {
		c, _ = b.denials.LoadOrStore(p.certID, new(atomic.Uint64))
	}
	c.(*atomic.Uint64).Add(1)

	ev := p.event(EventDenied, denyReason(action, topic, rule), clientID)
	ev.Action, ev.Topic, ev.Rule = action, topic, rule
	d := &p.denies
	d.mu.Lock()
	summary, flush := Event{}, false
	if ev.At.Sub(d.since) >= denyWindow {
		summary, flush = d.summaryLocked(ev.At)
	}
	show := d.shown < denyBurst
	if show {
		d.shown++
	} else {
		d.suppressed++
		d.last = ev
	}
	d.mu.Unlock()
	if flush {
		b.emit(summary)
	}
	if show {
		b.emit(ev)
	}
}

// denyReason words a policy refusal, in denied events and HTTPS answers.
func denyReason(action, topic, rule string) string {
	return action + " " + topic + " denied by rule " + rule
}

// flushDenials emits the summary of p's suppressed denials when its session
// ends, so the count is never lost.
func (b *Broker) flushDenials(p *peer) {
	d := &p.denies
	d.mu.Lock()
	summary, flush := d.summaryLocked(time.Now())
	d.mu.Unlock()
	if flush {
		b.emit(summary)
	}
}
