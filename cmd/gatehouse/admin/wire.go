package admin

import (
	"errors"
	"net/http"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// Request and reply bodies of the admin API.
type (
	statusReply struct {
		Describe   string                 `json:"describe"`
		PID        int                    `json:"pid"`
		Transports []broker.TransportInfo `json:"transports"`
	}
	signRequest struct {
		CSRPEM string `json:"csr_pem"`
		TTL    string `json:"ttl"`
	}
	pemRequest struct {
		PEM    string `json:"pem"`
		Strict *bool  `json:"strict,omitempty"` // POST /v1/cas: absent means strict
	}
	strictRequest struct {
		On bool `json:"on"`
	}
	transitionRequest struct {
		To     store.State `json:"to"`
		Reason string      `json:"reason,omitempty"`
	}
	switchRequest struct {
		On bool `json:"on"`
	}
	mtlsReply struct {
		Dropped int `json:"dropped"`
	}
	purgeReply struct {
		Purged int `json:"purged"`
	}
	errorReply struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
)

// Error codes carried over the wire so the client can rebuild sentinels.
const (
	codeUsage      = "usage"
	codeNotFound   = "not_found"
	codeConflict   = "conflict"
	codeTransition = "transition"
	codeAmbiguous  = "ambiguous"
	codeMalformed  = "malformed"
	codeWeakKey    = "weak_key"
	codeKeyRevoked = "key_revoked"
	codeInternal   = "internal"
)

// sentinels maps wire codes to the errors they stand for.
var sentinels = map[string]error{
	codeUsage:      app.ErrUsage,
	codeNotFound:   store.ErrNotFound,
	codeConflict:   store.ErrConflict,
	codeTransition: pki.ErrTransition,
	codeMalformed:  pki.ErrMalformed,
	codeWeakKey:    pki.ErrWeakKey,
	codeKeyRevoked: pki.ErrKeyRevoked,
	codeAmbiguous:  app.ErrUsage, // an ambiguous serial is a usage error, with or without a daemon
}

func classify(err error) (int, string) {
	var amb *store.AmbiguousError
	switch {
	case errors.As(err, &amb):
		return http.StatusConflict, codeAmbiguous
	case errors.Is(err, app.ErrUsage):
		return http.StatusBadRequest, codeUsage
	case errors.Is(err, pki.ErrMalformed):
		return http.StatusBadRequest, codeMalformed
	case errors.Is(err, pki.ErrWeakKey):
		return http.StatusBadRequest, codeWeakKey
	case errors.Is(err, pki.ErrKeyRevoked):
		return http.StatusConflict, codeKeyRevoked
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, codeNotFound
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict, codeConflict
	case errors.Is(err, pki.ErrTransition):
		return http.StatusConflict, codeTransition
	}
	return http.StatusInternalServerError, codeInternal
}

// remoteError is an error answered by the daemon; Is matches the sentinel its
// code stands for, so callers treat local and remote failures alike.
type remoteError struct {
	msg  string
	code string
}

func (e *remoteError) Error() string { return e.msg }

func (e *remoteError) Is(target error) bool { return sentinels[e.code] == target }
