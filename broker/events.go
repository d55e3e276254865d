package broker

import "time"

// Every event type, in one place (DESIGN.md sections 6 and 9). The broker
// emits the session events; the App emits the lifecycle and auth events
// into the same stream, and its event hub adds EventResync.
//
// Delivery is lossy and counted, never blocking: the broker hands events to
// Config.Emit from client goroutines, and every consumer downstream (the
// App's hub, the admin stream, the TUI) drops rather than waits. A consumer
// that lost events receives one EventResync and reloads a snapshot.
const (
	// EventConnected: a session registered. ClientID, Serial (empty without
	// a certificate), CN, Remote and Transport are set.
	EventConnected = "connected"
	// EventDisconnected: a session ended. Reason is its cause ("suspended
	// by operator", "kicked by operator", "client disconnected", ...).
	EventDisconnected = "disconnected"
	// EventRefused: a connection was turned away before it became a
	// session. Reason is always set ("suspended", "no client certificate").
	EventRefused = "refused"
	// EventCertState: a certificate changed lifecycle state. From and To are
	// the states (From is empty when the certificate was registered); Reason
	// words the change for people, as "suspended -> active: note".
	EventCertState = "cert_state"
	// EventMTLS: client-cert auth was switched on a transport. To is "on"
	// or "off"; Reason words it for people.
	EventMTLS = "mtls"
	// EventDenied: an authorised client was refused a publish or subscribe
	// by a topic rule. Action, Topic and Rule say which.
	EventDenied = "denied"
	// EventTokenState: a token subject changed lifecycle state, or a token
	// was revoked (the App raises it). Subject, From and To say which.
	EventTokenState = "token_state"
	// EventExpiring: a certificate in use expires within the warning window
	// (the App raises it). Reason says when.
	EventExpiring = "expiring"
	// EventDropped: messages to a session were dropped because it read too
	// slowly and its outbound queue (Limits.MaxQueued) was full. Count is
	// how many since the session's previous EventDropped, so the counts add
	// up to its total; at most one per session per second (drops.go).
	EventDropped = "dropped"
	// EventResync is synthetic: the stream lost events before this one, so
	// the reader's state is stale and must be reloaded from a snapshot.
	EventResync = "resync"
)

// Event is a plain value describing something an operator wants to see. The
// first eight JSON fields are always present (empty when unknown): scripts
// rely on their names (DESIGN.md section 6). Fields added since are typed
// and omitted when they do not apply to the event's type.
type Event struct {
	At        time.Time `json:"at"`
	Type      string    `json:"type"`
	Reason    string    `json:"reason"`
	ClientID  string    `json:"client_id"`
	Serial    string    `json:"serial"`
	CN        string    `json:"cn"`
	Remote    string    `json:"remote"`
	Transport string    `json:"transport"`

	// CertID identifies the certificate (Session.CertID: serial and issuer,
	// since two CAs may issue the same serial); empty without one.
	CertID string `json:"cert_id,omitempty"`
	// From and To are the lifecycle states of an EventCertState (the
	// broker cannot import the store, so they are the states' names), and
	// To is the new mode ("on", "off") of an EventMTLS.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Action ("publish" or "subscribe"), Topic and Rule (the rule id)
	// describe an EventDenied.
	Action string `json:"action,omitempty"`
	Topic  string `json:"topic,omitempty"`
	Rule   string `json:"rule,omitempty"`
	// Count is how many messages an EventDropped reports.
	Count uint64 `json:"count,omitempty"`
	// Subject is the token subject of a session with a JWT, and the subject
	// of an EventTokenState.
	Subject string `json:"sub,omitempty"`
	// Credential is how the client authenticated (Session.Credential), on
	// connected and disconnected events.
	Credential string `json:"credential,omitempty"`
}
