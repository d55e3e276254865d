package certs

import "github.com/gatehouse/gatehouse/store"

// TransitionIntent asks the root to move a certificate to another lifecycle
// state: suspend (Suspended), reactivate (Active) or revoke (Revoked).
type TransitionIntent struct {
	Serial, CN string
	To         store.State
	// PurgeRetained asks, with a revoke, to delete the retained messages
	// the certificate's sessions published.
	PurgeRetained bool
}

// CreateIntent asks the root to issue a client certificate. Blank fields
// take the backend's defaults.
type CreateIntent struct {
	CN, TTL, KeyType, OutDir string
}

// HistoryIntent asks the root to load the audit history of a certificate
// for the details view.
type HistoryIntent struct {
	Serial string
}

// KeyTypes are the key types the create form offers, default first.
var KeyTypes = []string{"ecdsa-p256", "rsa-2048", "rsa-3072", "ed25519"}
