package broker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// In-band renewal, the way AWS IoT fleet provisioning does it: a device
// publishes a CSR for its own CN to RenewTopic and receives its new
// certificate on the response topic (the MQTT 5 Response Topic, else the
// JSON's response_topic, else RenewReplyTopic), written to that client alone.
const (
	RenewTopic      = "$gatehouse/certificates/csr"
	RenewReplyTopic = "$gatehouse/certificates/csr/reply"
	// renewEvery bounds how often one certificate may ask, so a device cannot
	// fill the store with certificates.
	renewEvery = time.Minute
	// maxRenewRequest bounds the request: a CSR is well under 4 KiB.
	maxRenewRequest = 16 << 10
)

// RenewFunc signs csrPEM as the successor of the certificate with ID id
// (Session.CertID) and returns the new chain (leaf first) and the new
// certificate's ID. It is Config.Renew.
type RenewFunc func(id string, csrPEM []byte) (chainPEM []byte, newID string, err error)

// renewRequest is what a device publishes to RenewTopic.
type renewRequest struct {
	CSR           string `json:"csr"`
	ResponseTopic string `json:"response_topic,omitempty"`
}

// renewReply is what the device receives: a certificate, or why not.
type renewReply struct {
	Status         string `json:"status"` // "accepted" or "rejected"
	ID             string `json:"id,omitempty"`
	CertificatePEM string `json:"certificate_pem,omitempty"`
	Error          string `json:"error,omitempty"`

	topicRefused bool // the asked response topic is refused: reply on RenewReplyTopic
}

// maxReplyTopic bounds a response topic; ours is 33 bytes.
const maxReplyTopic = 256

// badReplyTopic says why a device's response topic may not carry a
// certificate, or "" when it may (or none was asked). The reply is written to
// the asking client alone, but a topic name it could not publish to, or one
// under a reserved $ prefix another subsystem owns, must not be accepted.
func badReplyTopic(t string) string {
	switch {
	case t == "" || t == RenewReplyTopic:
		return ""
	case len(t) > maxReplyTopic:
		return fmt.Sprintf("longer than %d bytes", maxReplyTopic)
	case !utf8.ValidString(t) || strings.ContainsRune(t, 0):
		return "not valid UTF-8 without NUL"
	case strings.ContainsAny(t, "#+"):
		return "wildcards (# or +) are not topic names"
	case strings.HasPrefix(t, "$"):
		return "$ topics are reserved; use " + RenewReplyTopic + " or your own"
	case strings.HasPrefix(t, "/"):
		return "empty first level"
	}
	return ""
}

// renewer answers renewal requests for the gate hook, which hands it every
// publish to RenewTopic before topic policy sees it (one hook fewer on every
// message's path than a hook of its own).
type renewer struct {
	b *Broker

	mu   sync.Mutex
	last map[string]time.Time // certificate ID -> last request
}

// allows reports whether cl may publish to RenewTopic: any session with a
// certificate may ask to renew it.
func (h *renewer) allows(cl *mqtt.Client) bool {
	p := peerOf(cl)
	return p != nil && p.serial != ""
}

// handle takes a renewal request out of the message flow (the publisher
// still gets its PUBACK) and answers it.
func (h *renewer) handle(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	p := peerOf(cl)
	if p == nil || p.serial == "" {
		return pk, packets.CodeSuccessIgnore
	}
	var req renewRequest
	reply := h.renew(p.certID, pk.Properties.ResponseTopic, pk.Payload, &req)
	topic := RenewReplyTopic
	switch {
	case reply.topicRefused: // the reply says why on the default topic
	case pk.Properties.ResponseTopic != "":
		topic = pk.Properties.ResponseTopic
	case req.ResponseTopic != "":
		topic = req.ResponseTopic
	}
	body, _ := json.Marshal(reply)
	out := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish},
		TopicName:   topic,
		Payload:     body,
	}
	out.Properties.CorrelationData = pk.Properties.CorrelationData
	if err := cl.WritePacket(out); err != nil {
		h.b.log.Debug("renewal reply not delivered", "client_id", cl.ID, "err", err)
	}
	return pk, packets.CodeSuccessIgnore
}

// renew decodes, checks and rate-limits one request and signs it. prop is
// the MQTT 5 Response Topic, if any.
func (h *renewer) renew(id, prop string, payload []byte, req *renewRequest) renewReply {
	reject := func(why string) renewReply { return renewReply{Status: "rejected", Error: why} }
	if h.b.cfg.Renew == nil {
		return reject("in-band renewal is off")
	}
	if len(payload) > maxRenewRequest {
		return reject("request too large")
	}
	if err := json.NewDecoder(bytes.NewReader(payload)).Decode(req); err != nil || req.CSR == "" {
		return reject(`want JSON {"csr": "-----BEGIN CERTIFICATE REQUEST-----..."}`)
	}
	for _, t := range []string{prop, req.ResponseTopic} {
		if why := badReplyTopic(t); why != "" {
			r := reject("response topic refused: " + why)
			r.topicRefused = true
			return r
		}
	}
	now := time.Now()
	h.mu.Lock()
	if h.last == nil {
		h.last = map[string]time.Time{}
	}
	if t, ok := h.last[id]; ok && now.Sub(t) < renewEvery {
		h.mu.Unlock()
		return reject("renewal asked too often: wait a minute")
	}
	h.last[id] = now
	h.mu.Unlock()
	chain, newID, err := h.b.cfg.Renew(id, []byte(req.CSR))
	if err != nil {
		return reject(err.Error())
	}
	return renewReply{Status: "accepted", ID: newID, CertificatePEM: string(chain)}
}
