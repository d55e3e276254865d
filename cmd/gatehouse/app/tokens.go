package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// AuthModeInfo is one transport's credential mode. Its JSON is a
// command-line contract (auth mode --json).
type AuthModeInfo struct {
	Transport  string `json:"transport"`
	Mode       string `json:"mode"`
	ClientAuth bool   `json:"client_auth"` // false: every credential optional, anonymous clients connect
}

// TokenRequest asks Gatehouse to sign a token. Its JSON travels over the
// admin socket.
type TokenRequest struct {
	Subject  string `json:"sub"`
	TTL      string `json:"ttl"`           // e.g. 1h, 30d
	Audience string `json:"aud,omitempty"` // default: the broker's audience
}

// TokenSubjectView is a token subject with its live sessions.
type TokenSubjectView struct {
	store.TokenSubject
	Sessions int `json:"sessions"`
}

// TokenList is what `token list --json` prints.
type TokenList struct {
	Audience string               `json:"audience"`
	Subjects []TokenSubjectView   `json:"subjects"`
	Issued   []store.IssuedToken  `json:"issued"`
	Revoked  []store.RevokedToken `json:"revoked"`
	Keys     []store.TokenKey     `json:"keys"`
}

// TokenTransitionResult reports a subject's new state, or the revoked jti,
// and how many live sessions were dropped.
type TokenTransitionResult struct {
	Subject store.TokenSubject `json:"subject"`
	JTI     string             `json:"jti,omitempty"` // set when one token was revoked
	Dropped int                `json:"dropped"`
}

// TokenUntrustResult reports the keys untrusted and the sessions dropped.
type TokenUntrustResult struct {
	Keys    []store.TokenKey `json:"keys"`
	Dropped int              `json:"dropped"`
}

// tokenChecker adapts the Authority's token side to the broker.
type tokenChecker struct{ t *pki.Tokens }

// Verify implements broker.TokenChecker.
func (c tokenChecker) Verify(raw string) (broker.TokenClaims, error) {
	cl, err := c.t.Verify(raw)
	return broker.TokenClaims{Subject: cl.Subject, ID: cl.ID, Expires: cl.Expires}, err
}

// Allowed implements broker.TokenChecker.
func (c tokenChecker) Allowed(sub, jti string) error { return c.t.Allowed(sub, jti) }

// AuthModes implements Service.
func (a *App) AuthModes(context.Context) ([]AuthModeInfo, error) {
	s, err := a.st.Settings()
	if err != nil {
		return nil, fmt.Errorf("read settings: %w", err)
	}
	br := a.broker()
	out := make([]AuthModeInfo, 0, len(TLSTransports()))
	for _, t := range TLSTransports() {
		info := AuthModeInfo{Transport: t, Mode: broker.AuthCert, ClientAuth: true}
		if m, ok := s.AuthModes[t]; ok {
			info.Mode = m
		}
		if on, ok := s.ClientAuth[t]; ok {
			info.ClientAuth = on
		}
		if br != nil && br.AuthMode(t) != "" {
			info.Mode, info.ClientAuth = br.AuthMode(t), br.ClientAuth(t)
		}
		out = append(out, info)
	}
	return out, nil
}

// SetAuthMode implements Service: persisted with an audit record, then
// applied to the running broker, which evicts the sessions the mode refuses.
func (a *App) SetAuthMode(ctx context.Context, transport, mode string) (int, error) {
	if !slices.Contains(TLSTransports(), transport) {
		return 0, usageError(fmt.Errorf("unknown transport %q: use mqtts, wss or https", transport))
	}
	if err := broker.ValidAuthMode(mode); err != nil {
		return 0, usageError(err)
	}
	a.modeMu.Lock()
	defer a.modeMu.Unlock()
	actor := a.actorOf(ctx)
	_, err := a.st.UpdateSettings(func(s *store.Settings) error {
		if s.AuthModes == nil {
			s.AuthModes = map[string]string{}
		}
		s.AuthModes[transport] = mode
		return nil
	}, store.AuditRecord{At: a.now(), Actor: actor, Action: "auth.mode", Detail: transport + " " + mode})
	if err != nil {
		return 0, fmt.Errorf("save auth mode for %s: %w", transport, err)
	}
	dropped := 0
	if br := a.broker(); br != nil {
		if dropped, err = br.SetAuthMode(transport, mode); err != nil {
			return 0, err
		}
	}
	a.emit(broker.Event{At: a.now(), Type: broker.EventMTLS, Transport: transport, To: mode,
		Reason: fmt.Sprintf("auth mode %s by %s, dropped %d", mode, actor, dropped)})
	return dropped, nil
}

// CreateToken implements Service.
func (a *App) CreateToken(ctx context.Context, req TokenRequest) (pki.IssuedToken, error) {
	ttl, err := parseTokenTTL(req.TTL)
	if err != nil {
		return pki.IssuedToken{}, usageError(err)
	}
	// Pruning is housekeeping: the token asked for is issued even if it fails.
	if _, err := a.ca.Tokens().Prune(); err != nil {
		a.log.Warn("prune expired tokens", "err", err)
	}
	it, err := a.ca.Tokens().Issue(pki.TokenRequest{Subject: req.Subject, TTL: ttl, Audience: req.Audience}, a.actorOf(ctx))
	if errors.Is(err, pki.ErrTokenRequest) {
		return pki.IssuedToken{}, usageError(err)
	}
	if err != nil {
		return pki.IssuedToken{}, err
	}
	a.emit(broker.Event{At: a.now(), Type: broker.EventTokenState, Subject: it.Record.Subject, To: string(store.StateActive),
		Reason: fmt.Sprintf("token %s issued by %s, expires %s", it.Record.JTI, a.actorOf(ctx), it.Record.Expires.UTC().Format(time.RFC3339))})
	return it, nil
}

// parseTokenTTL reads a lifetime as Go durations or days (30d).
func parseTokenTTL(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("--ttl is required, e.g. 1h or 30d")
	}
	var days int
	if n, err := fmt.Sscanf(s, "%dd", &days); err == nil && n == 1 && fmt.Sprintf("%dd", days) == s {
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("ttl %q: want a duration such as 15m, 1h or 30d", s)
	}
	return d, nil
}

// TrustTokenKeys implements Service.
func (a *App) TrustTokenKeys(ctx context.Context, name string, data []byte) ([]store.TokenKey, error) {
	keys, err := a.ca.Tokens().Trust(name, data, a.actorOf(ctx))
	if errors.Is(err, pki.ErrTokenRequest) {
		return nil, usageError(err)
	}
	return keys, err
}

// UntrustTokenKeys implements Service.
func (a *App) UntrustTokenKeys(ctx context.Context, name string) (TokenUntrustResult, error) {
	keys, err := a.ca.Tokens().Untrust(name, a.actorOf(ctx))
	if err != nil {
		return TokenUntrustResult{}, err
	}
	res := TokenUntrustResult{Keys: keys}
	if br := a.broker(); br != nil {
		res.Dropped = br.RecheckTokens("issuer " + name + " untrusted")
	}
	return res, nil
}

// Tokens implements Service.
func (a *App) Tokens(context.Context) (TokenList, error) {
	d, err := a.st.TokenData()
	if err != nil {
		return TokenList{}, err
	}
	live := map[string]int{}
	for _, s := range a.liveSessions() {
		if s.Subject != "" {
			live[s.Subject]++
		}
	}
	out := TokenList{Audience: a.ca.Tokens().Audience(), Issued: d.Issued, Revoked: d.Revoked, Keys: d.Keys}
	for _, s := range d.Subjects {
		out.Subjects = append(out.Subjects, TokenSubjectView{TokenSubject: s, Sessions: live[s.Subject]})
	}
	return out, nil
}

// TokenTransition implements Service. ref is a subject or a jti: suspend
// and reactivate act on the subject (of the token, for a jti); revoke of a
// jti revokes that token alone, revoke of a subject all its tokens, finally.
func (a *App) TokenTransition(ctx context.Context, ref string, to store.State, reason string) (TokenTransitionResult, error) {
	switch to {
	case store.StateSuspended, store.StateActive, store.StateRevoked:
	default:
		return TokenTransitionResult{}, usageError(fmt.Errorf("token state %q: want suspended, active or revoked", to))
	}
	tokens := a.ca.Tokens()
	r, err := tokens.Resolve(ref)
	if err != nil {
		return TokenTransitionResult{}, err
	}
	br := a.broker()
	actor := a.actorOf(ctx)
	cause := dropCause(to, reason)
	if r.JTI != "" && to == store.StateRevoked {
		live := 0
		if br != nil {
			live = br.SubjectSessions(r.Subject)
		}
		rev, err := tokens.RevokeID(r.JTI, actor, reason, live)
		if err != nil {
			return TokenTransitionResult{}, err
		}
		res := TokenTransitionResult{Subject: store.TokenSubject{Subject: rev.Subject}, JTI: rev.JTI}
		if br != nil {
			res.Dropped = br.DropTokenID(rev.JTI, cause)
		}
		a.emit(broker.Event{At: a.now(), Type: broker.EventTokenState, Subject: rev.Subject, To: "revoked",
			Reason: fmt.Sprintf("token %s revoked by %s, dropped %d", rev.JTI, actor, res.Dropped)})
		return res, nil
	}
	live := 0
	if br != nil {
		live = br.SubjectSessions(r.Subject)
	}
	sub, err := tokens.Transition(r.Subject, to, actor, reason, live)
	if err != nil {
		return TokenTransitionResult{}, err
	}
	res := TokenTransitionResult{Subject: sub}
	if br != nil && to != store.StateActive {
		res.Dropped = br.DropSubject(sub.Subject, cause)
	}
	a.emit(broker.Event{At: a.now(), Type: broker.EventTokenState, Subject: sub.Subject, To: string(to),
		Reason: fmt.Sprintf("token subject %s by %s, dropped %d", to, actor, res.Dropped)})
	return res, nil
}

// seenEvery throttles the first/last-seen writes of a token subject.
const seenEvery = time.Minute

// trackSubjects records the use of token subjects as sessions connect: a
// hub subscriber, so the store write is never on a client's path, and at
// most one write per subject per seenEvery.
func (a *App) trackSubjects(ch <-chan broker.Event) {
	last := map[string]time.Time{}
	for e := range ch {
		if e.Type != broker.EventConnected || e.Subject == "" || e.At.Sub(last[e.Subject]) < seenEvery {
			continue
		}
		last[e.Subject] = e.At
		if err := a.ca.Tokens().Touch(e.Subject, e.At); err != nil {
			a.log.Warn("record token subject use", "sub", e.Subject, "err", err)
		}
	}
}
