package app

import (
	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/broker/policy"
	"github.com/gatehouse/gatehouse/store"
)

// The service's own API types. The command line, the admin wire protocol and
// the TUI all speak them, so a front end's change never changes the daemon's
// API. Events are broker.Event (every type and payload in broker/events.go);
// every list of events is oldest first.

// Snapshot is the whole current state, for a front end that shows it live.
type Snapshot struct {
	Certs      []store.Cert           `json:"certs"`      // all client certificates
	Sessions   []broker.Session       `json:"sessions"`   // live sessions
	Transports []broker.TransportInfo `json:"transports"` // listeners
	CAs        []store.CA             `json:"cas"`        // root, issuing and trusted CAs (no keys)
	Events     []broker.Event         `json:"events"`     // recent events, oldest first
	Telemetry  []Series               `json:"telemetry"`  // what clients published recently, by client
	Policy     store.Policy           `json:"policy"`     // the authorization rules and default
	Denials    map[string]uint64      `json:"denials"`    // refused publishes and subscriptions by certificate ID, since the broker started
	// PolicyIssuers resolves the policy's ca:NAME rules (name to issuer
	// hashes), so the TUI shows a certificate's rights as the broker decides.
	PolicyIssuers policy.Issuers `json:"policy_issuers,omitempty"`
	// TokenSubjects are the subjects of JWT devices with their live sessions.
	TokenSubjects []TokenSubjectView `json:"token_subjects,omitempty"`
	// Warnings are what the operator should fix in this installation, one
	// line each (CA keys not encrypted at rest); the TUI shows them once.
	Warnings []string `json:"warnings,omitempty"`
	// Cluster is a cluster node's view of etcd (nil on a single appliance):
	// Home shows a line when etcd is unreachable.
	Cluster *ClusterPosture `json:"cluster,omitempty"`
}

// CreateRequest asks for a new client certificate written to files. Blank
// fields take defaults: a generated CN, TTL 365d, key ecdsa-p256, OutDir ./<cn>/.
type CreateRequest struct {
	CN      string
	TTL     string // "720h", "90d"
	KeyType string // "ecdsa-p256", "rsa-2048", "rsa-3072", "ed25519"
	OutDir  string
	Issuer  string // the issuing CA's name; "" for the default one
	// Bundle also writes OutDir/client.pem: chain and key in one file.
	Bundle bool
	// P12, when set, writes a PKCS#12 file there (key, leaf and chain)
	// under P12Password, for Java and Android keystores. Without OutDir only
	// the PKCS#12 file is written.
	P12, P12Password string
}

// CreateResult reports a created certificate and where its files went.
type CreateResult struct {
	Cert  store.Cert `json:"cert"`
	Files []string   `json:"files"` // paths of ca.pem, client.crt, client.key
	// Warning is set when the files went somewhere risky for a key (inside
	// a git work tree).
	Warning string `json:"warning,omitempty"`
}

// TransitionResult reports a lifecycle change.
type TransitionResult struct {
	Cert    store.Cert `json:"cert"`
	Dropped int        `json:"dropped"` // live sessions dropped
}
