package broker

import (
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// retainedBy is who set one retained message: the certificate ID ("" for
// a client without one) and the packet's origin and creation time, which tell
// that message apart from a later one on the same topic.
type retainedBy struct {
	certID   string
	clientID string
	created  int64
	size     int // payload bytes, counted against Limits.MaxRetainedBytes
}

// retainIndex mirrors mochi's retained store for client publishes: who set
// each topic's message, so an operator can purge what a certificate
// published, and its size, for the retained caps (the limit hook admits a
// message and reserves its size; the retain hook records who set it). mochi
// keeps retained messages in memory only (the broker registers no storage
// hook), so the index is in memory too: after a restart there is nothing left
// to purge.
type retainIndex struct {
	mu      sync.Mutex
	byTopic map[string]retainedBy
	bytes   int // sum of the sizes
}

// forgetLocked drops a topic and its size. Callers hold mu.
func (x *retainIndex) forgetLocked(topic string) {
	x.bytes -= x.byTopic[topic].size
	delete(x.byTopic, topic)
}

// retainHook feeds the retain index. It provides no auth method, so it does
// not weaken the gate hook (mochi admits a client if any auth hook does).
type retainHook struct {
	mqtt.HookBase
	b *Broker
}

// ID names the hook in mochi's logs.
func (h *retainHook) ID() string { return "gatehouse-retained" }

// Provides lists the hook methods mochi should call.
func (h *retainHook) Provides(b byte) bool {
	return b == mqtt.OnRetainMessage || b == mqtt.OnRetainedExpired
}

// OnRetainMessage records who set a retained message (r is 1) or forgets the
// topic when the message was cleared. Wills that are retained pass here too.
func (h *retainHook) OnRetainMessage(cl *mqtt.Client, pk packets.Packet, r int64) {
	x := &h.b.retained
	x.mu.Lock()
	defer x.mu.Unlock()
	if r != 1 {
		x.forgetLocked(pk.TopicName)
		return
	}
	by, admitted := x.byTopic[pk.TopicName]
	if !admitted { // a retained will: it does not pass the limit hook
		by.size = len(pk.Payload)
		x.bytes += by.size
	}
	by.certID, by.clientID, by.created = "", pk.Origin, pk.Created
	if p := peerOf(cl); p != nil {
		by.certID = p.certID
	}
	x.byTopic[pk.TopicName] = by
}

// OnRetainedExpired forgets a retained message mochi expired.
func (h *retainHook) OnRetainedExpired(topic string) {
	h.b.retained.mu.Lock()
	h.b.retained.forgetLocked(topic)
	h.b.retained.mu.Unlock()
}

// PurgeRetained deletes every retained message that sessions of the
// certificate with ID id (Session.CertID) set and that no one has replaced since, and returns how many. New
// subscribers then get none of them. Drop the certificate's sessions first,
// so it cannot set new ones.
func (b *Broker) PurgeRetained(id string) int {
	if id == "" {
		return 0
	}
	x := &b.retained
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for topic, by := range x.byTopic {
		if by.certID != id {
			continue
		}
		x.forgetLocked(topic)
		cur, ok := b.server.Topics.Retained.Get(topic)
		if !ok || cur.Origin != by.clientID || cur.Created != by.created {
			continue // replaced by another publisher's message
		}
		// An empty retained message is how MQTT clears a topic; mochi's
		// index trims the topic's node as well.
		b.server.Topics.RetainMessage(packets.Packet{TopicName: topic})
		n++
	}
	return n
}
