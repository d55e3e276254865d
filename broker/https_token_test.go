package broker_test

import (
	"bufio"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/broker/policy"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/token"
	"github.com/gatehouse/gatehouse/store"
)

// newHTTPSTokenEnv is a token env with the HTTPS transport, every TLS
// transport in mode.
func newHTTPSTokenEnv(tb testing.TB, mode string, mutate func(*broker.Config)) *tokenEnv {
	tb.Helper()
	return newTokenEnv(tb, mode, withHTTPS(func(c *broker.Config) {
		c.AuthModes[broker.TransportHTTPS] = mode
		if mutate != nil {
			mutate(c)
		}
	}))
}

// bearer adds Authorization: Bearer to every request of a client.
type bearer struct {
	tok  string
	base http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.tok)
	return b.base.RoundTrip(r)
}

func (b bearer) CloseIdleConnections() { b.base.(*http.Transport).CloseIdleConnections() }

// bearerClient is an HTTPS API client presenting cert (none when nil) and
// the token tok.
func (e *env) bearerClient(tb testing.TB, cert *tls.Certificate, tok string) *http.Client {
	tb.Helper()
	c := e.httpsClient(tb, cert)
	c.Transport = bearer{tok, c.Transport}
	return c
}

// postHeader publishes body to path with the Authorization header auth and
// returns the answer with its WWW-Authenticate challenge.
func (e *env) postHeader(tb testing.TB, c *http.Client, path, auth string) (answer, string) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.httpsURL("/v1/publish/"+path), strings.NewReader("1"))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := c.Do(req)
	if err != nil {
		tb.Fatalf("post %s: %v", path, err)
	}
	challenge := res.Header.Get("WWW-Authenticate")
	return decodeAnswer(tb, res), challenge
}

// A device with only a token publishes over HTTPS to an MQTT subscriber and
// streams what an MQTT client publishes; its session is a jwt one.
func TestHTTPSJWTHappyPath(t *testing.T) {
	te := newHTTPSTokenEnv(t, broker.AuthJWT, nil)
	tok := te.issueToken(t, "dev1", time.Hour).Token
	mq := te.mustConnectToken(t, broker.TransportMQTTS, "dev1-mqtt", "dev1", tok)
	if tk := mq.Subscribe("tele/#", 1, nil); !tk.WaitTimeout(wait) || tk.Error() != nil {
		t.Fatalf("subscribe: %v", tk.Error())
	}
	c := te.bearerClient(t, nil, tok)

	if a := te.post(t, c, "tele/dev1/temp?qos=1", "21.5"); a.status != http.StatusOK {
		t.Fatalf("publish with a token: %+v", a)
	}
	select {
	case m := <-mq.msgs:
		if m.Topic() != "tele/dev1/temp" || string(m.Payload()) != "21.5" {
			t.Fatalf("got %s %q", m.Topic(), m.Payload())
		}
	case <-time.After(wait):
		t.Fatal("the HTTPS publish never reached the MQTT subscriber")
	}

	s, _ := te.subscribeSSE(t, te.bearerClient(t, nil, tok), "cmd/%23")
	if tk := mq.Publish("cmd/dev1/reboot", 1, false, "now"); !tk.WaitTimeout(wait) || tk.Error() != nil {
		t.Fatalf("publish: %v", tk.Error())
	}
	if ev := s.next(t); ev.name != "message" || ev.data["topic"] != "cmd/dev1/reboot" || ev.data["payload"] != "now" {
		t.Fatalf("event %+v, want the MQTT publish", ev)
	}
	https := 0
	for _, ss := range te.b.Sessions() {
		if ss.Transport != broker.TransportHTTPS {
			continue
		}
		https++
		if ss.Credential != broker.CredentialJWT || ss.Subject != "dev1" || ss.Serial != "" {
			t.Errorf("https session %+v, want credential jwt of dev1 without a certificate", ss)
		}
	}
	if https != 2 || te.b.SubjectSessions("dev1") != 3 {
		t.Fatalf("%d https sessions, %d of dev1; want 2 and 3", https, te.b.SubjectSessions("dev1"))
	}
}

// Every token refusal is answered with its reason: 401 with the
// invalid_token challenge for a bad token, 403 for a good token whose
// subject or jti is not allowed, 401 with a bare challenge without one.
func TestHTTPSJWTRefusals(t *testing.T) {
	te := newHTTPSTokenEnv(t, broker.AuthJWT, withPolicy(httpsPolicy(t)))
	revoked, suspended, noneTok := te.refusedTokens(t)
	good := func(c jwt.MapClaims) string { return forge(t, jwt.SigningMethodES256, te.partner, "partner", c) }
	invalid := func(reason string) string {
		return `Bearer realm="gatehouse", error="invalid_token", error_description="` + reason + `"`
	}
	for name, tc := range map[string]struct {
		auth      string // the Authorization header
		status    int
		reason    string
		challenge string
	}{
		"alg none":           {"Bearer " + noneTok, http.StatusUnauthorized, token.ReasonAlgorithm, invalid(token.ReasonAlgorithm)},
		"HS256 with the key": {"Bearer " + forge(t, jwt.SigningMethodHS256, te.pubPEM, "partner", claims("dev1", nil)), http.StatusUnauthorized, token.ReasonAlgorithm, invalid(token.ReasonAlgorithm)},
		"expired":            {"Bearer " + good(claims("dev1", func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })), http.StatusUnauthorized, token.ReasonExpired, invalid(token.ReasonExpired)},
		"not yet valid":      {"Bearer " + good(claims("dev1", func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() })), http.StatusUnauthorized, token.ReasonNotYetValid, invalid(token.ReasonNotYetValid)},
		"wrong audience":     {"Bearer " + good(claims("dev1", func(c jwt.MapClaims) { c["aud"] = "another-broker" })), http.StatusUnauthorized, token.ReasonAudience, invalid(token.ReasonAudience)},
		"unknown kid":        {"Bearer " + forge(t, jwt.SigningMethodES256, te.partner, "nobody", claims("dev1", nil)), http.StatusUnauthorized, token.ReasonUnknownKey, invalid(token.ReasonUnknownKey)},
		"garbage":            {"Bearer not.a.jwt", http.StatusUnauthorized, token.ReasonMalformed, invalid(token.ReasonMalformed)},
		"revoked jti":        {"Bearer " + revoked.Token, http.StatusForbidden, pki.ReasonTokenRevoked, invalid(pki.ReasonTokenRevoked)},
		"suspended subject":  {"bearer " + suspended.Token, http.StatusForbidden, pki.ReasonSuspended, invalid(pki.ReasonSuspended)},
		"no token":           {"", http.StatusUnauthorized, broker.ReasonNoToken, `Bearer realm="gatehouse"`},
		"basic auth":         {"Basic ZGV2MTpzZWNyZXQ=", http.StatusBadRequest, broker.ReasonBadAuthorization, `Bearer realm="gatehouse", error="invalid_request", error_description="` + broker.ReasonBadAuthorization + `"`},
	} {
		t.Run(name, func(t *testing.T) {
			a, challenge := te.postHeader(t, te.httpsClient(t, nil), "tele/x", tc.auth)
			if a.status != tc.status || a.body["reason"] != tc.reason || a.body["error"] == "" || challenge != tc.challenge {
				t.Fatalf("answer %+v, challenge %q; want %d %q, challenge %q", a, challenge, tc.status, tc.reason, tc.challenge)
			}
			waitFor(t, func() bool {
				return len(te.ev.match(func(ev broker.Event) bool {
					return ev.Type == broker.EventRefused && ev.Transport == broker.TransportHTTPS && ev.Reason == tc.reason
				})) > 0
			}, wait, "refused event %q", tc.reason)
		})
	}
	t.Run("suspended subject streaming", func(t *testing.T) {
		_, a := te.subscribeSSE(t, te.bearerClient(t, nil, suspended.Token), "tele/%23")
		if a.status != http.StatusForbidden || a.body["reason"] != pki.ReasonSuspended {
			t.Fatalf("answer %+v", a)
		}
	})
	if n := len(te.b.Sessions()); n != 0 {
		t.Fatalf("sessions %v after refusals", sessionIDs(te.b))
	}
}

// Each auth mode on https asks for its credentials, as on mqtts; with
// client auth off every credential is optional, but one presented must pass.
func TestHTTPSAuthModes(t *testing.T) {
	te := newHTTPSTokenEnv(t, broker.AuthCert, nil)
	cert, _ := te.issue(t, "dev-cert")
	tok := te.issueToken(t, "dev-jwt", time.Hour).Token
	bad := forge(t, jwt.SigningMethodES256, te.partner, "nobody", claims("dev-jwt", nil))
	for name, tc := range map[string]struct {
		mode     string
		mtlsOff  bool
		cert     bool
		tok      string
		status   int
		reason   string
		credName string // the session's credential, on success
	}{
		"cert/certificate":           {mode: broker.AuthCert, cert: true, status: http.StatusAccepted, credName: broker.CredentialCert},
		"cert/token alone":           {mode: broker.AuthCert, tok: tok, status: http.StatusUnauthorized, reason: broker.ReasonNoClientCert},
		"cert/a bad token is unread": {mode: broker.AuthCert, cert: true, tok: bad, status: http.StatusAccepted, credName: broker.CredentialCert},
		"jwt/token":                  {mode: broker.AuthJWT, tok: tok, status: http.StatusAccepted, credName: broker.CredentialJWT},
		"jwt/certificate alone":      {mode: broker.AuthJWT, cert: true, status: http.StatusUnauthorized, reason: broker.ReasonNoToken},
		"either/certificate":         {mode: broker.AuthEither, cert: true, status: http.StatusAccepted, credName: broker.CredentialCert},
		"either/token":               {mode: broker.AuthEither, tok: tok, status: http.StatusAccepted, credName: broker.CredentialJWT},
		"either/nothing":             {mode: broker.AuthEither, status: http.StatusUnauthorized, reason: broker.ReasonNoCredential},
		"cert+jwt/both":              {mode: broker.AuthCertJWT, cert: true, tok: tok, status: http.StatusAccepted, credName: broker.CredentialCertJWT},
		"cert+jwt/certificate alone": {mode: broker.AuthCertJWT, cert: true, status: http.StatusUnauthorized, reason: broker.ReasonNoToken},
		"cert+jwt/token alone":       {mode: broker.AuthCertJWT, tok: tok, status: http.StatusUnauthorized, reason: broker.ReasonNoClientCert},
		"mtls off/jwt/nothing":       {mode: broker.AuthJWT, mtlsOff: true, status: http.StatusAccepted, credName: broker.CredentialAnonymous},
		"mtls off/jwt/bad token":     {mode: broker.AuthJWT, mtlsOff: true, tok: bad, status: http.StatusUnauthorized, reason: token.ReasonUnknownKey},
		"mtls off/cert+jwt/token":    {mode: broker.AuthCertJWT, mtlsOff: true, tok: tok, status: http.StatusAccepted, credName: broker.CredentialJWT},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := te.b.SetAuthMode(broker.TransportHTTPS, tc.mode); err != nil {
				t.Fatal(err)
			}
			if _, err := te.b.SetClientAuth(broker.TransportHTTPS, !tc.mtlsOff); err != nil {
				t.Fatal(err)
			}
			var cc *tls.Certificate
			if tc.cert {
				cc = &cert
			}
			c := te.httpsClient(t, cc)
			if tc.tok != "" {
				c = te.bearerClient(t, cc, tc.tok)
			}
			a := te.post(t, c, "tele/x", "1")
			if a.status != tc.status || (tc.reason != "" && a.body["reason"] != tc.reason) {
				t.Fatalf("answer %+v, want %d %q", a, tc.status, tc.reason)
			}
			if tc.credName == "" {
				return
			}
			creds := map[string]bool{}
			for _, s := range te.b.Sessions() {
				if s.Transport == broker.TransportHTTPS {
					creds[s.Credential] = true
				}
			}
			if !creds[tc.credName] {
				t.Fatalf("https sessions' credentials %v, want one %s", creds, tc.credName)
			}
			c.CloseIdleConnections()
			waitFor(t, func() bool { return len(te.b.Sessions()) == 0 }, wait, "the session to end")
		})
	}
}

// A connection is bound to the token of its first request: another token
// on it later is refused and the connection closed.
func TestHTTPSTokenBoundToConnection(t *testing.T) {
	te := newHTTPSTokenEnv(t, broker.AuthJWT, nil)
	tok1 := te.issueToken(t, "dev1", time.Hour).Token
	tok2 := te.issueToken(t, "dev2", time.Hour).Token
	conn, err := tls.Dial("tcp", te.addr[broker.TransportHTTPS], te.tlsConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	send := func(tok string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, te.httpsURL("/v1/publish/tele/k"), strings.NewReader("1"))
		req.Header.Set("Authorization", "Bearer "+tok)
		if err := req.Write(conn); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(r, req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		return res
	}
	for i := range 2 {
		if res := send(tok1); res.StatusCode != http.StatusAccepted {
			t.Fatalf("request %d with the first token: %d", i, res.StatusCode)
		}
	}
	if res := send(tok2); res.StatusCode != http.StatusUnauthorized || !strings.Contains(res.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("another token on the connection: %d %v", res.StatusCode, res.Header)
	}
	te.ev.wait(t, 1, broker.EventRefused, broker.ReasonTokenChanged, "")
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("read after the refusal: %v, want EOF", err)
	}
	if te.b.SubjectSessions("dev2") != 0 {
		t.Fatal("the second token got a session")
	}
}

// A token session's event stream drops at once when its subject is
// suspended, its jti revoked, its issuer's key untrusted, its token expires
// or the auth mode no longer admits it; a "closed" event names the cause.
func TestHTTPSJWTDropsStreams(t *testing.T) {
	te := newHTTPSTokenEnv(t, broker.AuthJWT, func(c *broker.Config) { c.ExpiryCheck = 20 * time.Millisecond })
	partner := func(sub string, ttl time.Duration) string {
		return forge(t, jwt.SigningMethodES256, te.partner, "partner", claims(sub, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(ttl).Unix() }))
	}
	for name, tc := range map[string]struct {
		tok   func(sub string) string
		drop  func(sub, tok string) int // how many it dropped; -1: the broker does it by itself
		cause string
	}{
		"suspend": {func(sub string) string { return te.issueToken(t, sub, time.Hour).Token }, func(sub, _ string) int {
			if _, err := te.a.Tokens().Transition(sub, store.StateSuspended, "test", "", 0); err != nil {
				t.Fatal(err)
			}
			return te.b.DropSubject(sub, pki.ReasonSuspended)
		}, pki.ReasonSuspended},
		// A node that reloaded every token record (its watch fell behind)
		// finds the suspended subject by rechecking, without DropSubject.
		"recheck after a reload": {func(sub string) string { return te.issueToken(t, sub, time.Hour).Token }, func(sub, _ string) int {
			if _, err := te.a.Tokens().Transition(sub, store.StateSuspended, "test", "", 0); err != nil {
				t.Fatal(err)
			}
			return te.b.RecheckTokens("records reloaded")
		}, "records reloaded: " + pki.ReasonSuspended},
		"revoke jti": {func(sub string) string { return te.issueToken(t, sub, time.Hour).Token }, func(sub, tok string) int {
			claims, _, _ := te.b.CheckToken(tok, sub)
			if _, err := te.a.Tokens().RevokeID(claims.ID, "test", "", 0); err != nil {
				t.Fatal(err)
			}
			return te.b.DropTokenID(claims.ID, pki.ReasonTokenRevoked)
		}, pki.ReasonTokenRevoked},
		"expiry": {func(sub string) string { return partner(sub, 2*time.Second) }, func(string, string) int { return -1 }, broker.CauseTokenExpired},
		"untrust": {func(sub string) string { return partner(sub, time.Hour) }, func(string, string) int {
			if _, err := te.a.Tokens().Untrust("partner", "test"); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if _, err := te.a.Tokens().Trust("partner", te.pubPEM, "test"); err != nil {
					t.Fatal(err)
				}
			}()
			return te.b.RecheckTokens("key untrusted")
		}, "key untrusted: " + token.ReasonUnknownKey},
		"mode switch": {func(sub string) string { return te.issueToken(t, sub, time.Hour).Token }, func(string, string) int {
			n, err := te.b.SetAuthMode(broker.TransportHTTPS, broker.AuthCert)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := te.b.SetAuthMode(broker.TransportHTTPS, broker.AuthJWT); err != nil {
				t.Fatal(err)
			}
			return n
		}, broker.CauseAuthMode},
	} {
		t.Run(name, func(t *testing.T) {
			sub := "streamer-" + strings.ReplaceAll(name, " ", "-")
			tok := tc.tok(sub)
			s, a := te.subscribeSSE(t, te.bearerClient(t, nil, tok), "tele/%23")
			if s == nil {
				t.Fatalf("stream refused: %+v", a)
			}
			if n := te.b.SubjectSessions(sub); n != 1 {
				t.Fatalf("%d sessions of %s for the stream, want 1", n, sub)
			}
			start := time.Now()
			if n := tc.drop(sub, tok); n != 1 && n != -1 {
				t.Fatalf("dropped %d, want 1", n)
			}
			if ev := s.next(t); ev.name != "closed" || ev.data["reason"] != tc.cause {
				t.Fatalf("event %+v, want closed: %s", ev, tc.cause)
			}
			s.ended(t)
			if took := time.Since(start); took > 3*time.Second {
				t.Fatalf("the stream took %s to drop", took)
			}
			ev := te.ev.wait(t, 1, broker.EventDisconnected, tc.cause, "")
			if ev[len(ev)-1].Subject != sub || ev[len(ev)-1].Transport != broker.TransportHTTPS {
				t.Fatalf("disconnected event %+v, want %s on https", ev[len(ev)-1], sub)
			}
			if n := te.b.SubjectSessions(sub); n != 0 {
				t.Fatalf("%d sessions left", n)
			}
		})
	}
}

// ${sub} and sub:GLOB apply to HTTPS publishes, subscriptions and the
// deliveries a stream gets.
func TestHTTPSJWTPolicySubject(t *testing.T) {
	pol, err := policy.Compile([]policy.Rule{
		{ID: "own", Effect: policy.Allow, Action: policy.ActionPubSub, Topic: "devices/${sub}/#", Who: policy.WhoAny},
		{ID: "fleet", Effect: policy.Allow, Action: policy.ActionSubscribe, Topic: "devices/#", Who: "sub:fleet-*"},
	}, policy.Deny)
	if err != nil {
		t.Fatal(err)
	}
	te := newHTTPSTokenEnv(t, broker.AuthJWT, withPolicy(pol))
	solo := te.bearerClient(t, nil, te.issueToken(t, "solo-b", time.Hour).Token)
	fleet, _ := te.subscribeSSE(t, te.bearerClient(t, nil, te.issueToken(t, "fleet-a", time.Hour).Token), "devices/%23")
	own, _ := te.subscribeSSE(t, te.bearerClient(t, nil, te.issueToken(t, "solo-b", time.Hour).Token), "devices/solo-b/%23")

	if a := te.post(t, solo, "devices/solo-b/t?qos=1", "mine"); a.status != http.StatusOK {
		t.Fatalf("solo-b publishing on its own topic: %+v", a)
	}
	for name, s := range map[string]*sse{"fleet-a (sub:fleet-*)": fleet, "solo-b (${sub})": own} {
		if ev := s.next(t); ev.name != "message" || ev.data["topic"] != "devices/solo-b/t" {
			t.Fatalf("%s got %+v, want devices/solo-b/t", name, ev)
		}
	}
	if a := te.post(t, solo, "devices/fleet-a/t", "not mine"); a.status != http.StatusForbidden || a.body["reason"] != "publish devices/fleet-a/t denied by rule default" {
		t.Fatalf("solo-b publishing on fleet-a's topic: %+v", a)
	}
	if _, a := te.subscribeSSE(t, te.bearerClient(t, nil, te.issueToken(t, "solo-b", time.Hour).Token), "devices/%23"); a.status != http.StatusForbidden ||
		a.body["reason"] != "subscribe devices/# denied by rule default" {
		t.Fatalf("solo-b subscribing devices/#: %+v", a)
	}
	denied := te.ev.wait(t, 2, broker.EventDenied, "", "")
	for _, ev := range denied {
		if ev.Subject != "solo-b" || ev.Transport != broker.TransportHTTPS {
			t.Errorf("denied event %+v, want solo-b on https", ev)
		}
	}
}
