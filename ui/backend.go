package ui

import (
	"context"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/ui/pages/acl"
)

// Backend is what the TUI needs from a running Gatehouse, in the service's
// own types (package app). Two implementations exist: the in-process App and
// the client of a daemon's admin socket; both are app.Service, of which this
// is the narrow part. Every method may block on I/O, so the TUI calls them
// only from tea.Cmd functions, never from Update or View. Certificates are
// named by their ID (store.Cert.ID: serial and issuer), never by serial
// alone, since two CAs may issue the same serial.
type Backend interface {
	// Describe says what the TUI is attached to, for the title bar.
	Describe() string
	// Snapshot returns the whole current state; used at start, after an
	// event overflow, after resuming from ctrl+z and every few seconds.
	Snapshot(ctx context.Context) (app.Snapshot, error)
	// Subscribe streams live events until ctx is cancelled. The channel is
	// closed when the stream ends; broker.EventResync says events were lost.
	Subscribe(ctx context.Context) (<-chan broker.Event, error)
	// CreateCert issues a client certificate and writes its files.
	CreateCert(ctx context.Context, req app.CreateRequest) (app.CreateResult, error)
	// Transition moves a certificate to another lifecycle state and drops
	// its live sessions.
	Transition(ctx context.Context, id string, to store.State, reason string) (app.TransitionResult, error)
	// PurgeRetained deletes the retained messages the certificate's
	// sessions set and nobody replaced since, and returns how many; audited.
	PurgeRetained(ctx context.Context, id string) (int, error)
	// SetClientAuth switches client-cert auth for one transport and returns
	// how many sessions were dropped.
	SetClientAuth(ctx context.Context, transport string, on bool) (int, error)
	// History returns the audit records of one certificate, newest first.
	History(ctx context.Context, id string) ([]store.AuditRecord, error)
	// ExportCA writes the root certificate (ca.pem) to path.
	ExportCA(ctx context.Context, path string) error
	// ResolveSerial turns a unique CN, a serial or a serial prefix into
	// the certificate's ID (the ":" commands use it, like the command line).
	ResolveSerial(ctx context.Context, query string) (string, error)
	// Kick disconnects one session; its device may reconnect.
	Kick(ctx context.Context, clientID string) error
	// TokenTransition suspends, reactivates or revokes a token subject, or
	// revokes one token by jti, and drops the live sessions it refuses.
	TokenTransition(ctx context.Context, ref string, to store.State, reason string) (app.TokenTransitionResult, error)
	// ClusterStatus lists the nodes sharing the store in etcd, or says the
	// store is a single file (the :cluster view).
	ClusterStatus(ctx context.Context) (app.ClusterStatus, error)
	// The Policy view's calls (acl.Backend): read the policy, add, remove
	// and reorder rules, set the default.
	acl.Backend
}
