// Package intent holds what a page asks the root model to do: every request
// that needs the backend. Pages never call the backend; they emit one of
// these as a message and the root turns it into a Backend call in a command
// (DESIGN section 7). Pages share them here rather than importing each
// other.
package intent

import "github.com/gatehouse/gatehouse/store"

// Transition moves a certificate to another lifecycle state: suspend
// (Suspended), reactivate (Active) or revoke (Revoked). ID is the
// certificate's store.Cert.ID; CN only names it in the status line.
type Transition struct {
	ID, CN string
	To     store.State
	// PurgeRetained asks, with a revoke, to delete the retained messages
	// the certificate's sessions set, once its sessions are gone.
	PurgeRetained bool
}

// Create issues a client certificate. Blank fields take the backend's
// defaults.
type Create struct {
	CN, TTL, KeyType, OutDir string
}

// History loads the audit history of a certificate for its details.
type History struct {
	ID string
}

// Open shows the details of a certificate (from the home view).
type Open struct {
	ID string
}

// Toggle switches client-cert auth for a transport.
type Toggle struct {
	Transport string
	On        bool
}

// Kick disconnects one session; its device may reconnect at once (suspend
// its certificate to keep it out).
type Kick struct {
	ClientID string
}

// Export writes the root certificate (ca.pem) to Path.
type Export struct {
	Path string
}

// TokenTransition suspends, reactivates or revokes a token subject, or
// revokes one token by its jti (Ref names either, as on the command line).
type TokenTransition struct {
	Ref string
	To  store.State
}
