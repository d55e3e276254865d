package broker

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Credential modes of a TLS transport (gatehouse auth mode): which
// credential a client must present when client auth is on (see
// Broker.ClientAuth). With client auth off, every credential is optional, so
// a client presenting none connects anonymously, but whatever a client
// presents is still checked and must pass.
const (
	AuthCert    = "cert"     // a client certificate; a CONNECT password is ignored
	AuthJWT     = "jwt"      // a token in the CONNECT password; no certificate needed
	AuthEither  = "either"   // a certificate or a token
	AuthCertJWT = "cert+jwt" // both, each valid
)

// AuthModes lists the modes in the order operators read them.
var AuthModes = []string{AuthCert, AuthJWT, AuthEither, AuthCertJWT}

// Credential kinds of a session (Session.Credential).
const (
	CredentialCert      = "cert"
	CredentialJWT       = "jwt"
	CredentialCertJWT   = "cert+jwt"
	CredentialAnonymous = "anonymous"
)

// Refusal reasons and causes about tokens the broker produces itself; the
// TokenChecker supplies the token's own ("token expired", "wrong token
// audience", "suspended", ...).
const (
	ReasonNoToken      = "no token"
	ReasonNoCredential = "no client certificate or token"
	ReasonUserNotSub   = "user name is not the token's subject"
	ReasonTokensOff    = "tokens are not configured"
	CauseTokenExpired  = "token expired"
	CauseAuthMode      = "auth mode switched"
)

// authModeTransports are the transports an auth mode is kept for: the TLS
// transports, each of which reads its mode with AuthMode.
var authModeTransports = []string{TransportMQTTS, TransportWSS, TransportHTTPS}

// newAuthModes builds the switchable mode of each transport from cfg.
func newAuthModes(cfg map[string]string) (map[string]*atomic.Pointer[string], error) {
	out := map[string]*atomic.Pointer[string]{}
	for _, t := range authModeTransports {
		mode := AuthCert
		if m, ok := cfg[t]; ok {
			if err := ValidAuthMode(m); err != nil {
				return nil, fmt.Errorf("auth mode of %s: %w", t, err)
			}
			mode = m
		}
		p := new(atomic.Pointer[string])
		p.Store(&mode)
		out[t] = p
	}
	return out, nil
}

// ValidAuthMode reports an unknown mode.
func ValidAuthMode(mode string) error {
	for _, m := range AuthModes {
		if m == mode {
			return nil
		}
	}
	return fmt.Errorf("unknown auth mode %q: use cert, jwt, either or cert+jwt", mode)
}

// AuthMode returns a transport's credential mode; "" for plain MQTT and
// unknown names.
func (b *Broker) AuthMode(transport string) string {
	if m, ok := b.authModes[transport]; ok {
		return *m.Load()
	}
	return ""
}

// SetAuthMode switches a transport's credential mode without restarting its
// listener and drops, with DISCONNECT 0x98, every session on it that the
// new mode would refuse (a token session when switching to cert, a session
// without a token when switching to jwt or cert+jwt) and returns how many.
// Persisting the mode is the caller's job.
func (b *Broker) SetAuthMode(transport, mode string) (int, error) {
	m, ok := b.authModes[transport]
	if !ok {
		return 0, fmt.Errorf("set auth mode on %q: want %s, %s or https", transport, TransportMQTTS, TransportWSS)
	}
	if err := ValidAuthMode(mode); err != nil {
		return 0, err
	}
	if mode != AuthCert && b.cfg.Tokens == nil {
		return 0, fmt.Errorf("set auth mode %s on %s: %s", mode, transport, ReasonTokensOff)
	}
	// Store before taking mu, as SetClientAuth does: a session registering
	// after this sweep is judged by the new mode.
	m.Store(&mode)
	return b.evictNoncompliant(transport, CauseAuthMode), nil
}

// evictNoncompliant drops the sessions on transport that lack a credential
// its mode and client-auth switch now require.
func (b *Broker) evictNoncompliant(transport, cause string) int {
	var victims []*mqtt.Client
	b.idx.mu.Lock()
	for _, set := range b.idx.byCert {
		victims = append(victims, b.idx.takeLocked(set, func(p *peer) bool {
			return p.transport == transport && b.missing(p) != ""
		}, cause)...)
	}
	b.idx.mu.Unlock()
	b.disconnect(victims, packets.ErrAdministrativeAction)
	return len(victims)
}

// certRequired reports whether a handshake without a client certificate is
// refused at once: client auth is on and the mode needs a certificate.
func (b *Broker) certRequired(transport string) bool {
	if !b.ClientAuth(transport) {
		return false
	}
	m := b.AuthMode(transport)
	return m == AuthCert || m == AuthCertJWT
}

// missing returns which credential p lacks that its transport requires now,
// or "". Credentials are optional while client auth is off.
func (b *Broker) missing(p *peer) string {
	if !b.ClientAuth(p.transport) {
		return ""
	}
	cert, tok := p.certID != "", p.sub != ""
	switch b.AuthMode(p.transport) {
	case AuthCert:
		if !cert {
			return ReasonNoClientCert
		}
	case AuthJWT:
		if !tok {
			return ReasonNoToken
		}
	case AuthEither:
		if !cert && !tok {
			return ReasonNoCredential
		}
	case AuthCertJWT:
		if !cert {
			return ReasonNoClientCert
		}
		if !tok {
			return ReasonNoToken
		}
	}
	return ""
}

// tokenRefusal is a token the broker turned away; authz tells a lifecycle
// refusal (the token is fine, its subject or jti is not allowed) from a
// bad credential.
type tokenRefusal struct {
	reason string
	authz  bool
}

// CheckToken verifies a bearer token, and that username, when given, is
// its subject, then checks its subject and jti are allowed now. It is the
// one entry point for a front that takes tokens (MQTT's CONNECT, the HTTPS
// endpoint's Authorization: Bearer). On refusal it returns the reason and
// whether it is an authorization refusal (HTTP 403, CONNACK 0x87) rather
// than a bad credential (401, 0x86).
func (b *Broker) CheckToken(raw, username string) (claims TokenClaims, reason string, forbidden bool) {
	c, r := b.checkToken(raw, username)
	if r != nil {
		return TokenClaims{}, r.reason, r.authz
	}
	return c, "", false
}

func (b *Broker) checkToken(raw, username string) (TokenClaims, *tokenRefusal) {
	if b.cfg.Tokens == nil {
		return TokenClaims{}, &tokenRefusal{reason: ReasonTokensOff}
	}
	c, err := b.cfg.Tokens.Verify(raw)
	if err != nil {
		return TokenClaims{}, &tokenRefusal{reason: reasonOf(err)}
	}
	if username != "" && username != c.Subject {
		return TokenClaims{}, &tokenRefusal{reason: ReasonUserNotSub}
	}
	if err := b.cfg.Tokens.Allowed(c.Subject, c.ID); err != nil {
		return TokenClaims{}, &tokenRefusal{reason: reasonOf(err), authz: true}
	}
	return c, nil
}

// OnConnect reads the token a CONNECT carries in its password, on a TLS
// transport whose mode takes tokens. A refused token is answered here with
// its own CONNACK code (0x86 bad user name or password, 0x87 not authorized;
// 4 and 5 for MQTT 3.1.1) and a refused event; the error stops mochi before
// it authenticates. The session's admission (mode, lifecycle, registration)
// stays in OnConnectAuthenticate, under the index mutex.
func (h *gateHook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	p := peerOf(cl)
	if p == nil {
		return nil
	}
	if m := h.b.AuthMode(p.transport); m == "" || m == AuthCert {
		return nil // a password is not a credential here: ignored as before
	}
	if len(pk.Connect.Password) > 0 {
		raw := string(pk.Connect.Password)
		c, r := h.b.checkToken(raw, string(pk.Connect.Username))
		if r != nil {
			return h.b.refuseConnect(cl, p, r.reason, r.authz)
		}
		p.sub, p.jti, p.tokenExp, p.token = c.Subject, c.ID, c.Expires, raw
	}
	if reason := h.b.missing(p); reason != "" {
		return h.b.refuseConnect(cl, p, reason, false)
	}
	return nil
}

// refuseConnect answers a CONNECT with a failed CONNACK, "bad user name or
// password" (0x86; 4 in MQTT 3.1.1) or with authz "not authorized" (0x87;
// 5), emits the refused event and returns the code that stops mochi.
// mochi's own mapping would send 3.1.1 clients 5 for both.
func (b *Broker) refuseConnect(cl *mqtt.Client, p *peer, reason string, authz bool) error {
	code, v3 := packets.ErrBadUsernameOrPassword, packets.ErrMalformedUsernameOrPassword // 0x04 in 3.1.1: bad user name or password
	if authz {
		code, v3 = packets.ErrNotAuthorized, packets.Err3NotAuthorized
	}
	b.emit(p.event(EventRefused, reason, cl.ID))
	ack := code
	if cl.Properties.ProtocolVersion < 5 {
		ack = v3
	}
	if err := b.server.SendConnack(cl, ack, false, nil); err != nil {
		return fmt.Errorf("refuse %s: send connack: %w", reason, err)
	}
	return code
}

// admitToken returns why p's token may not hold a session now, or "".
func (b *Broker) admitToken(p *peer, now time.Time) string {
	if now.After(p.tokenExp) {
		return CauseTokenExpired
	}
	if err := b.cfg.Tokens.Allowed(p.sub, p.jti); err != nil {
		return reasonOf(err)
	}
	return ""
}

// DropSubject closes every live session holding a token of subject sub
// with DISCONNECT 0x98 and returns how many it closed; each disconnected
// event carries cause. Call it after the TokenChecker's state changed, as
// DropSerial; never from a mochi hook.
func (b *Broker) DropSubject(sub, cause string) int {
	if sub == "" {
		return 0
	}
	return b.dropAll(func(x *index) map[*peer]struct{} { return x.bySub[sub] }, cause)
}

// SubjectSessions returns the number of live sessions holding a token of
// subject sub.
func (b *Broker) SubjectSessions(sub string) int {
	b.idx.mu.Lock()
	defer b.idx.mu.Unlock()
	return len(b.idx.bySub[sub])
}

// DropTokenID closes the live sessions authenticated with the token whose
// jti is id, as DropSubject does.
func (b *Broker) DropTokenID(id, cause string) int {
	if id == "" {
		return 0
	}
	var victims []*mqtt.Client
	b.idx.mu.Lock()
	for _, set := range b.idx.bySub {
		victims = append(victims, b.idx.takeLocked(set, func(p *peer) bool { return p.jti == id }, cause)...)
	}
	b.idx.mu.Unlock()
	b.disconnect(victims, packets.ErrAdministrativeAction)
	return len(victims)
}

// RecheckTokens verifies again the token of every live token session,
// checks its subject and jti against the TokenChecker (Allowed) and drops
// those now refused, as Recheck does for certificate chains: call it after
// trusted token keys or the audience changed, or after the token records
// were reloaded wholesale (a cluster node that missed some changes).
func (b *Broker) RecheckTokens(cause string) int {
	if b.cfg.Tokens == nil {
		return 0
	}
	b.idx.mu.Lock()
	var live []*peer
	for _, set := range b.idx.bySub {
		for p := range set {
			live = append(live, p)
		}
	}
	b.idx.mu.Unlock()
	refused := map[*peer]string{}
	now := time.Now()
	for _, p := range live {
		if _, err := b.cfg.Tokens.Verify(p.token); err != nil {
			refused[p] = cause + ": " + reasonOf(err)
		} else if reason := b.admitToken(p, now); reason != "" {
			refused[p] = cause + ": " + reason
		}
	}
	var victims []*mqtt.Client
	b.idx.mu.Lock()
	for p, why := range refused {
		victims = append(victims, b.idx.takeLocked(map[*peer]struct{}{p: {}}, func(p *peer) bool { return p.live }, why)...)
	}
	b.idx.mu.Unlock()
	b.disconnect(victims, packets.ErrAdministrativeAction)
	return len(victims)
}

// errNoTokens refuses a broker configured for token modes without a checker.
var errNoTokens = errors.New("new broker: an auth mode other than cert needs Config.Tokens")
