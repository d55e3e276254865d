package ui

import (
	"context"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/ui/common"
)

// Backend is everything the TUI needs from a running Gatehouse. Two
// implementations exist in cmd/gatehouse: the in-process App and the client of
// a daemon's admin socket. Every method may block on I/O, so the TUI calls them
// only from tea.Cmd functions, never from Update or View.
type Backend interface {
	// Describe says what the TUI is attached to, for the title bar:
	// e.g. "in-process broker" or "daemon at /data/admin.sock".
	Describe() string
	// Snapshot returns the whole current state; used at start, after an
	// event overflow and after resuming from ctrl+z.
	Snapshot(ctx context.Context) (Snapshot, error)
	// Subscribe streams live events until ctx is cancelled. The channel is
	// closed when the stream ends. When events were lost the backend sends one
	// event of type EventResync; the TUI then reloads with Snapshot.
	Subscribe(ctx context.Context) (<-chan broker.Event, error)
	// CreateCert issues a client certificate and writes ca.pem, client.crt and
	// client.key into req.OutDir (default ./<cn>/); the key is not kept.
	CreateCert(ctx context.Context, req CreateRequest) (CreateResult, error)
	// Transition moves a certificate to Suspended, Active (reactivate) or
	// Revoked and drops its live sessions.
	Transition(ctx context.Context, serial string, to store.State, reason string) (TransitionResult, error)
	// PurgeRetained deletes the retained messages the certificate's sessions
	// published (and no one replaced since) and returns how many; audited.
	PurgeRetained(ctx context.Context, serial string) (int, error)
	// SetClientAuth switches client-cert auth for one transport and returns
	// how many sessions were dropped.
	SetClientAuth(ctx context.Context, transport string, on bool) (int, error)
	// History returns the audit records of one certificate, newest first.
	History(ctx context.Context, serial string) ([]store.AuditRecord, error)
	// ExportCA writes the root certificate (ca.pem) to path.
	ExportCA(ctx context.Context, path string) error
}

// EventResync is a synthetic event type telling the TUI that events were lost.
const EventResync = "resync"

// Snapshot is the full state shown by the TUI.
type Snapshot struct {
	Certs      []store.Cert           `json:"certs"`      // all client certificates
	Sessions   []broker.Session       `json:"sessions"`   // live sessions
	Transports []broker.TransportInfo `json:"transports"` // listeners
	CAs        []store.CA             `json:"cas"`        // root, issuing and trusted CAs (no keys)
	Events     []broker.Event         `json:"events"`     // recent events, newest first
	Telemetry  []Series               `json:"telemetry"`  // what clients published recently, by client
	Policy     store.Policy           `json:"policy"`     // the authorization rules and default
	Denials    map[string]uint64      `json:"denials"`    // refused publishes and subscriptions by certificate ID, since the broker started
	// Warnings are what the operator should fix in this installation, one
	// line each (CA keys not encrypted at rest); the TUI shows them once.
	Warnings []string `json:"warnings,omitempty"`
}

// Series is what one client has published recently. It is defined in
// package common, beside the pages that show it, which cannot import this
// package.
type Series = common.Series

// CreateRequest asks for a new client certificate. Blank fields take defaults:
// a generated CN, TTL 365d, key ecdsa-p256, OutDir ./<cn>/.
type CreateRequest struct {
	CN      string
	TTL     string // "720h", "90d"
	KeyType string // "ecdsa-p256", "rsa-2048", "rsa-3072", "ed25519"
	OutDir  string
}

// CreateResult reports a created certificate and where its files went.
type CreateResult struct {
	Cert  store.Cert `json:"cert"`
	Files []string   `json:"files"` // paths of ca.pem, client.crt, client.key
	// Warning, when set, is about where the key went (inside a git work tree).
	Warning string `json:"warning,omitempty"`
}

// TransitionResult reports a lifecycle change.
type TransitionResult struct {
	Cert    store.Cert `json:"cert"`
	Dropped int        `json:"dropped"` // live sessions dropped
}
