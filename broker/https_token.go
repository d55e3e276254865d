package broker

import (
	"net/http"
	"strings"
)

// Reasons of the HTTPS front's own token refusals; the others are
// CheckToken's and the gate's.
const (
	// ReasonBadAuthorization refuses an Authorization header that is not
	// "Bearer TOKEN" (HTTP 400, RFC 6750 invalid_request).
	ReasonBadAuthorization = "authorization is not a bearer token"
	// ReasonTokenChanged refuses a request whose token is not the one its
	// connection was bound to at its first request (see httpsFront.bearer).
	ReasonTokenChanged = "token differs from the connection's"
)

// bearerRealm is the RFC 6750 challenge of the HTTPS front.
const bearerRealm = `Bearer realm="gatehouse"`

// bearerError is the challenge of an answer refusing a token with the RFC
// 6750 error code (invalid_token, invalid_request) and the reason, kept to
// the characters RFC 6750 allows in error_description (printable ASCII but
// " and \): a reason may quote what the client sent.
func bearerError(code, reason string) string {
	desc := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '?'
		}
		return r
	}, reason)
	return bearerRealm + `, error="` + code + `", error_description="` + desc + `"`
}

// tokenHTTPError is the answer to a token refused for reason: 403 when its
// subject or jti is not allowed (forbidden), else 401. Both carry the
// invalid_token challenge: RFC 6750 names revoked tokens invalid too.
func tokenHTTPError(reason string, forbidden bool) *httpError {
	e := &httpError{status: http.StatusUnauthorized, msg: "token not accepted", reason: reason, challenge: bearerError("invalid_token", reason)}
	if forbidden {
		e.status, e.msg = http.StatusForbidden, "token refused"
	}
	return e
}

// bearerToken returns the token of an "Authorization: Bearer TOKEN" header,
// "" without the header, or ok false when the header is something else.
// The scheme is case-insensitive (RFC 7235).
func bearerToken(h http.Header) (tok string, ok bool) {
	v := h.Get("Authorization")
	if v == "" {
		return "", true
	}
	scheme, tok, found := strings.Cut(v, " ")
	tok = strings.TrimSpace(tok)
	if !found || !strings.EqualFold(scheme, "Bearer") || tok == "" || strings.ContainsAny(tok, " \t") {
		return "", false
	}
	return tok, true
}

// bearer reads the request's bearer token when the https auth mode takes
// tokens (in mode cert the header is ignored, as MQTT ignores a CONNECT
// password), verifies it with CheckToken and sets its identity on the
// connection's peer, before the connection's session opens, whose admission
// then judges the credentials against the mode as it does for MQTT. A
// connection is bound to the credentials of its first request: once it
// holds a token, or its session opened without one, every later request
// must carry that same token (or none), else it is refused 401 and the
// connection closed; a device switching tokens opens a new connection.
func (f *httpsFront) bearer(hc *httpsConn, r *http.Request) *httpError {
	b, p := f.l.b, hc.p
	hc.mu.Lock()
	opened := hc.s != nil
	hc.mu.Unlock()
	if p.sub == "" && b.AuthMode(TransportHTTPS) == AuthCert {
		return nil
	}
	raw, ok := bearerToken(r.Header)
	if !ok {
		b.emit(p.event(EventRefused, ReasonBadAuthorization, ""))
		return &httpError{status: http.StatusBadRequest, msg: "want Authorization: Bearer TOKEN", reason: ReasonBadAuthorization, challenge: bearerError("invalid_request", ReasonBadAuthorization)}
	}
	if p.sub != "" || opened {
		if raw != p.token {
			b.emit(p.event(EventRefused, ReasonTokenChanged, ""))
			return tokenHTTPError(ReasonTokenChanged, false)
		}
		return nil
	}
	if raw == "" {
		return nil // whether the mode needs a token is the admission's
	}
	c, reason, forbidden := b.CheckToken(raw, "")
	if reason != "" {
		b.emit(p.event(EventRefused, reason, ""))
		return tokenHTTPError(reason, forbidden)
	}
	// Unlocked: a connection answers one request at a time, and the session
	// that others read p through opens after this, in this goroutine.
	p.sub, p.jti, p.tokenExp, p.token = c.Subject, c.ID, c.Expires, raw
	return nil
}
