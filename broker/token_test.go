package broker_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	pahov5 "github.com/eclipse/paho.golang/paho"
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/broker/policy"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/token"
	"github.com/gatehouse/gatehouse/store"
)

// tokenChecker adapts the pki's token side to the broker's interface, as
// the App does.
type tokenChecker struct{ t *pki.Tokens }

func (c tokenChecker) Verify(raw string) (broker.TokenClaims, error) {
	cl, err := c.t.Verify(raw)
	return broker.TokenClaims{Subject: cl.Subject, ID: cl.ID, Expires: cl.Expires}, err
}

func (c tokenChecker) Allowed(sub, jti string) error { return c.t.Allowed(sub, jti) }

// tokenEnv is a broker whose TLS transports take tokens in mode, with an
// operator issuer "partner" trusted (kid "partner", ES256) to forge with.
type tokenEnv struct {
	*env
	partner *ecdsa.PrivateKey
	pubPEM  []byte
}

func newTokenEnv(tb testing.TB, mode string, mutate func(*broker.Config)) *tokenEnv {
	tb.Helper()
	te := &tokenEnv{}
	te.env = newEnv(tb, func(c *broker.Config) {
		c.Tokens = tokenChecker{c.Authorizer.(*pki.Authority).Tokens()}
		c.AuthModes = map[string]string{broker.TransportMQTTS: mode, broker.TransportWSS: mode}
		if mutate != nil {
			mutate(c)
		}
	})
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	te.partner, te.pubPEM = k, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	if _, err := te.a.Tokens().Trust("partner", te.pubPEM, "test"); err != nil {
		tb.Fatal(err)
	}
	return te
}

// issueToken has Gatehouse sign a token for sub.
func (te *tokenEnv) issueToken(tb testing.TB, sub string, ttl time.Duration) pki.IssuedToken {
	tb.Helper()
	it, err := te.a.Tokens().Issue(pki.TokenRequest{Subject: sub, TTL: ttl}, "test")
	if err != nil {
		tb.Fatal(err)
	}
	return it
}

// forge signs claims as the partner issuer would (or, with m and key, as an
// attacker would).
func forge(tb testing.TB, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	tb.Helper()
	t := jwt.NewWithClaims(m, claims)
	t.Header["kid"] = kid
	s, err := t.SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func claims(sub string, mutate func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{"sub": sub, "aud": pki.DefaultTokenAudience, "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
	if mutate != nil {
		mutate(c)
	}
	return c
}

// withToken sets the CONNECT user name and password of a paho v3 client.
func withToken(user, tok string) func(*paho.ClientOptions) {
	// 3.1.1 only: paho would retry a refused CONNECT as MQTT 3.1.
	return func(o *paho.ClientOptions) { o.SetUsername(user).SetPassword(tok).SetProtocolVersion(4) }
}

// connectV5 opens an MQTT 5 session over mqtts with the token as password
// and no user name; it returns the CONNACK reason code.
func (e *env) connectV5(tb testing.TB, id, tok string) (*pahov5.Client, byte) {
	tb.Helper()
	conn, err := tls.Dial("tcp", e.addr[broker.TransportMQTTS], e.tlsConfig(nil))
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c := pahov5.NewClient(pahov5.ClientConfig{Conn: conn})
	ack, err := c.Connect(ctx, &pahov5.Connect{ClientID: id, CleanStart: true, KeepAlive: 30, PasswordFlag: true, Password: []byte(tok)})
	if ack == nil {
		if err == nil {
			err = errors.New("no CONNACK")
		}
		tb.Fatalf("connect v5 %s: %v", id, err)
	}
	if ack.ReasonCode == 0 {
		tb.Cleanup(func() { _ = c.Disconnect(&pahov5.Disconnect{}) })
	}
	return c, ack.ReasonCode
}

func TestJWTHappyPath(t *testing.T) {
	te := newTokenEnv(t, broker.AuthJWT, nil)
	tok := te.issueToken(t, "dev1", time.Hour).Token

	sub := te.mustConnectToken(t, broker.TransportWSS, "dev1-sub", "dev1", tok)
	if tk := sub.Subscribe("telemetry/#", 1, nil); !tk.WaitTimeout(wait) || tk.Error() != nil {
		t.Fatalf("subscribe: %v", tk.Error())
	}
	pub := te.mustConnectToken(t, broker.TransportMQTTS, "dev1-pub", "dev1", tok)
	if tk := pub.Publish("telemetry/dev1", 1, false, "21.5"); !tk.WaitTimeout(wait) || tk.Error() != nil {
		t.Fatalf("publish: %v", tk.Error())
	}
	select {
	case m := <-sub.msgs:
		if string(m.Payload()) != "21.5" {
			t.Fatalf("payload %q", m.Payload())
		}
	case <-time.After(wait):
		t.Fatal("message over mqtts never reached the wss subscriber")
	}

	v5, code := te.connectV5(t, "dev1-v5", tok)
	if code != 0 {
		t.Fatalf("MQTT 5 CONNACK %#x, want success", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := v5.Publish(ctx, &pahov5.Publish{Topic: "telemetry/v5", QoS: 1, Payload: []byte("x")}); err != nil {
		t.Fatalf("v5 publish: %v", err)
	}

	for _, s := range te.b.Sessions() {
		if s.Credential != broker.CredentialJWT || s.Subject != "dev1" || s.Serial != "" {
			t.Errorf("session %s: credential %q, sub %q, serial %q; want jwt, dev1, none", s.ClientID, s.Credential, s.Subject, s.Serial)
		}
	}
	if n := len(te.b.Sessions()); n != 3 {
		t.Fatalf("%d sessions, want 3", n)
	}
	ev := te.ev.wait(t, 1, broker.EventConnected, "", "")
	if ev[0].Subject != "dev1" {
		t.Fatalf("connected event without the subject: %+v", ev[0])
	}
}

// refusedTokens returns what the refusal tests present: a good token whose
// jti is revoked (subject dev-r), one whose subject is suspended (dev-s),
// and an unsigned "alg: none" token for dev1.
func (te *tokenEnv) refusedTokens(t *testing.T) (revoked, suspended pki.IssuedToken, none string) {
	t.Helper()
	revoked = te.issueToken(t, "dev-r", time.Hour)
	if _, err := te.a.Tokens().RevokeID(revoked.Record.JTI, "test", "", 0); err != nil {
		t.Fatal(err)
	}
	suspended = te.issueToken(t, "dev-s", time.Hour)
	if _, err := te.a.Tokens().Transition("dev-s", store.StateSuspended, "test", "", 0); err != nil {
		t.Fatal(err)
	}
	none = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"partner"}`)) + "." +
		base64.RawURLEncoding.EncodeToString(mustJSON(t, claims("dev1", nil))) + "."
	return revoked, suspended, none
}

func (te *tokenEnv) mustConnectToken(tb testing.TB, transport, id, user, tok string) *client {
	tb.Helper()
	c, err := te.connectWith(tb, transport, nil, id, withToken(user, tok))
	if err != nil {
		tb.Fatalf("connect %s as %s with a token: %v", transport, id, err)
	}
	return c
}

// Each refusal names its reason in the refused event and answers with the
// right CONNACK: 4 (bad user name or password) for a bad token, 5 (not
// authorized) for a good token whose subject or jti is not allowed.
func TestJWTRefusals(t *testing.T) {
	te := newTokenEnv(t, broker.AuthJWT, nil)
	pub := te.pubPEM
	revoked, suspended, noneTok := te.refusedTokens(t)
	good := func(c jwt.MapClaims) string { return forge(t, jwt.SigningMethodES256, te.partner, "partner", c) }
	tests := map[string]struct {
		user, tok string
		reason    string
		authz     bool // CONNACK 5 not authorized, else 4 bad user name or password
	}{
		"fail/alg none":                  {tok: noneTok, reason: token.ReasonAlgorithm},
		"fail/HS256 with the public key": {tok: forge(t, jwt.SigningMethodHS256, pub, "partner", claims("dev1", nil)), reason: token.ReasonAlgorithm},
		"fail/expired":                   {tok: good(claims("dev1", func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })), reason: token.ReasonExpired},
		"fail/not yet valid":             {tok: good(claims("dev1", func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() })), reason: token.ReasonNotYetValid},
		"fail/wrong audience":            {tok: good(claims("dev1", func(c jwt.MapClaims) { c["aud"] = "another-broker" })), reason: token.ReasonAudience},
		"fail/unknown kid":               {tok: forge(t, jwt.SigningMethodES256, te.partner, "nobody", claims("dev1", nil)), reason: token.ReasonUnknownKey},
		"fail/user name not the subject": {user: "dev2", tok: good(claims("dev1", nil)), reason: broker.ReasonUserNotSub},
		"fail/revoked jti":               {user: "dev-r", tok: revoked.Token, reason: pki.ReasonTokenRevoked, authz: true},
		"fail/suspended subject":         {user: "dev-s", tok: suspended.Token, reason: pki.ReasonSuspended, authz: true},
		"fail/no token":                  {user: "dev1", reason: broker.ReasonNoToken},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			id := "refused-" + strings.ReplaceAll(name, " ", "-")
			user := tc.user
			if user == "" {
				user = "dev1"
			}
			_, err := te.connectWith(t, broker.TransportMQTTS, nil, id, withToken(user, tc.tok))
			want := packets.ErrorRefusedBadUsernameOrPassword
			if tc.authz {
				want = packets.ErrorRefusedNotAuthorised
			}
			if !errors.Is(err, want) {
				t.Fatalf("connect error %v, want %v", err, want)
			}
			got := te.ev.match(func(ev broker.Event) bool { return ev.Type == broker.EventRefused && ev.ClientID == id })
			if len(got) != 1 || got[0].Reason != tc.reason {
				t.Fatalf("refused events %+v, want one with reason %q", got, tc.reason)
			}
			if len(te.b.Sessions()) != 0 {
				t.Fatalf("sessions %v after a refusal", sessionIDs(te.b))
			}
		})
	}
	// MQTT 5 gets the v5 codes: 0x86 and 0x87.
	if _, code := te.connectV5(t, "v5-bad", forge(t, jwt.SigningMethodHS256, pub, "partner", claims("dev1", nil))); code != 0x86 {
		t.Errorf("v5 CONNACK for an HS256 token %#x, want 0x86", code)
	}
	if _, code := te.connectV5(t, "v5-suspended", suspended.Token); code != 0x87 {
		t.Errorf("v5 CONNACK for a suspended subject %#x, want 0x87", code)
	}
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Suspending a subject drops its live sessions at once, on every transport,
// and leaves other subjects' sessions up; revoking one jti drops only the
// sessions of that token.
func TestJWTSuspendAndRevokeDropLiveSessions(t *testing.T) {
	te := newTokenEnv(t, broker.AuthJWT, nil)
	tok1 := te.issueToken(t, "dev1", time.Hour).Token
	c1 := te.mustConnectToken(t, broker.TransportMQTTS, "d1-a", "dev1", tok1)
	c2 := te.mustConnectToken(t, broker.TransportWSS, "d1-b", "dev1", tok1)
	other := te.issueToken(t, "dev2", time.Hour)
	otherOld := te.issueToken(t, "dev2", time.Hour)
	keep := te.mustConnectToken(t, broker.TransportMQTTS, "d2", "dev2", other.Token)
	old := te.mustConnectToken(t, broker.TransportMQTTS, "d2-old", "dev2", otherOld.Token)

	if _, err := te.a.Tokens().Transition("dev1", store.StateSuspended, "test", "", 0); err != nil {
		t.Fatal(err)
	}
	if n := te.b.DropSubject("dev1", "suspended by operator"); n != 2 {
		t.Fatalf("DropSubject dropped %d, want 2", n)
	}
	waitLost(t, c1)
	waitLost(t, c2)
	if _, err := te.connectWith(t, broker.TransportMQTTS, nil, "d1-again", withToken("dev1", tok1)); !errors.Is(err, packets.ErrorRefusedNotAuthorised) {
		t.Fatalf("reconnect of a suspended subject: %v, want not authorised", err)
	}

	if _, err := te.a.Tokens().RevokeID(otherOld.Record.JTI, "test", "", 0); err != nil {
		t.Fatal(err)
	}
	if n := te.b.DropTokenID(otherOld.Record.JTI, "revoked by operator"); n != 1 {
		t.Fatalf("DropTokenID dropped %d, want 1", n)
	}
	waitLost(t, old)
	if !keep.IsConnectionOpen() || strings.Join(sessionIDs(te.b), ",") != "d2" {
		t.Fatalf("sessions %v, want only d2", sessionIDs(te.b))
	}
	dis := te.ev.wait(t, 3, broker.EventDisconnected, "", "")
	for _, ev := range dis {
		if ev.Subject == "" {
			t.Errorf("disconnected event without subject: %+v", ev)
		}
	}
}

// A token expiring mid-session drops the session, as certificate expiry does.
func TestJWTExpiryMidSessionDrops(t *testing.T) {
	te := newTokenEnv(t, broker.AuthJWT, func(c *broker.Config) { c.ExpiryCheck = 20 * time.Millisecond })
	exp := time.Now().Add(2 * time.Second).Truncate(time.Second).Add(time.Second)
	tok := forge(t, jwt.SigningMethodES256, te.partner, "partner", claims("short", func(c jwt.MapClaims) { c["exp"] = exp.Unix() }))
	c := te.mustConnectToken(t, broker.TransportMQTTS, "short", "short", tok)
	waitLost(t, c)
	if time.Now().Before(exp) {
		t.Fatalf("dropped before the token expired (%s)", exp)
	}
	te.ev.wait(t, 1, broker.EventDisconnected, broker.CauseTokenExpired, "")
}

// Mode switches evict the sessions the new mode refuses, like mtls on.
func TestAuthModeSwitchEvicts(t *testing.T) {
	te := newTokenEnv(t, broker.AuthEither, nil)
	cert, _ := te.issue(t, "dev-cert")
	tok := te.issueToken(t, "dev-jwt", time.Hour).Token
	certOnly := te.mustConnect(t, broker.TransportMQTTS, &cert, "cert-only")
	jwtOnly := te.mustConnectToken(t, broker.TransportMQTTS, "jwt-only", "dev-jwt", tok)
	both, err := te.connectWith(t, broker.TransportMQTTS, &cert, "both", withToken("dev-jwt", tok))
	if err != nil {
		t.Fatal(err)
	}
	wssJWT := te.mustConnectToken(t, broker.TransportWSS, "wss-jwt", "dev-jwt", tok)
	creds := map[string]string{}
	for _, s := range te.b.Sessions() {
		creds[s.ClientID] = s.Credential
	}
	if creds["cert-only"] != "cert" || creds["jwt-only"] != "jwt" || creds["both"] != "cert+jwt" {
		t.Fatalf("credentials %v", creds)
	}

	if n, err := te.b.SetAuthMode(broker.TransportMQTTS, broker.AuthCertJWT); err != nil || n != 2 {
		t.Fatalf("switch to cert+jwt: dropped %d, %v; want 2 (cert-only and jwt-only)", n, err)
	}
	waitLost(t, certOnly)
	waitLost(t, jwtOnly)
	if n, err := te.b.SetAuthMode(broker.TransportMQTTS, broker.AuthCert); err != nil || n != 0 {
		t.Fatalf("switch to cert: dropped %d, %v; want 0 (both has a certificate)", n, err)
	}
	if _, err := te.connectWith(t, broker.TransportMQTTS, nil, "jwt-late", withToken("dev-jwt", tok)); err == nil {
		t.Fatal("a token alone in mode cert was admitted")
	}
	te.waitHandshakeRefusal(t, broker.ReasonNoClientCert, broker.TransportMQTTS)
	if n, err := te.b.SetAuthMode(broker.TransportMQTTS, broker.AuthJWT); err != nil || n != 0 {
		t.Fatalf("switch to jwt: dropped %d, %v; want 0 (both has a token)", n, err)
	}
	if !both.IsConnectionOpen() || !wssJWT.IsConnectionOpen() {
		t.Fatal("a compliant session was dropped")
	}
	// mtls off makes every credential optional: anonymous clients get in.
	if _, err := te.b.SetClientAuth(broker.TransportMQTTS, false); err != nil {
		t.Fatal(err)
	}
	anon := te.mustConnect(t, broker.TransportMQTTS, nil, "anon")
	if n, err := te.b.SetClientAuth(broker.TransportMQTTS, true); err != nil || n != 1 {
		t.Fatalf("mtls on in mode jwt: dropped %d, %v; want 1 (anon)", n, err)
	}
	waitLost(t, anon)
	te.ev.wait(t, 2, broker.EventDisconnected, broker.CauseAuthMode, "")
	for _, ti := range te.b.Transports() {
		if ti.Name == broker.TransportMQTTS && ti.AuthMode != broker.AuthJWT {
			t.Fatalf("transport info %+v, want auth_mode jwt", ti)
		}
	}
}

// ${sub} confines each token subject to its own topics; sub:GLOB selects.
func TestJWTPolicySubjectVariable(t *testing.T) {
	pol, err := policy.Compile([]policy.Rule{
		{ID: "own", Effect: "allow", Action: policy.ActionPubSub, Topic: "devices/${sub}/#", Who: "any"},
		{ID: "fleet", Effect: "allow", Action: policy.ActionSubscribe, Topic: "devices/#", Who: "sub:fleet-*"},
	}, "deny")
	if err != nil {
		t.Fatal(err)
	}
	te := newTokenEnv(t, broker.AuthJWT, func(c *broker.Config) { c.Policy = pol })
	a := te.mustConnectToken(t, broker.TransportMQTTS, "a", "fleet-a", te.issueToken(t, "fleet-a", time.Hour).Token)
	b := te.mustConnectToken(t, broker.TransportMQTTS, "b", "solo-b", te.issueToken(t, "solo-b", time.Hour).Token)

	granted := func(c *client, filter string) byte {
		tk := c.Subscribe(filter, 1, nil)
		if !tk.WaitTimeout(wait) || tk.Error() != nil {
			t.Fatalf("subscribe %s: %v", filter, tk.Error())
		}
		return tk.(*paho.SubscribeToken).Result()[filter]
	}
	if q := granted(a, "devices/#"); q != 1 {
		t.Fatalf("fleet-a subscribing devices/#: granted %#x, want 1 (sub:fleet-*)", q)
	}
	if q := granted(b, "devices/#"); q != 0x80 {
		t.Fatalf("solo-b subscribing devices/#: granted %#x, want 0x80 (sub:fleet-* is not solo-b)", q)
	}
	if q := granted(b, "devices/solo-b/#"); q != 1 {
		t.Fatalf("solo-b subscribing its own devices/solo-b/#: granted %#x, want 1 (${sub})", q)
	}
	// b publishes on its own topic (reaches a), then on a's: denied (and,
	// MQTT 3.1.1 having no PUBACK code for it, disconnected).
	b.Publish("devices/solo-b/t", 1, false, "mine").WaitTimeout(wait)
	select {
	case m := <-a.msgs:
		if m.Topic() != "devices/solo-b/t" {
			t.Fatalf("fleet-a got %s, want devices/solo-b/t", m.Topic())
		}
	case <-time.After(wait):
		t.Fatal("solo-b's publish on devices/solo-b/t never arrived")
	}
	b.Publish("devices/fleet-a/t", 1, false, "not mine").WaitTimeout(wait)
	te.ev.wait(t, 2, broker.EventDenied, "", "")
	denied := te.ev.match(func(ev broker.Event) bool { return ev.Type == broker.EventDenied })
	if len(denied) != 2 || denied[1].Topic != "devices/fleet-a/t" || denied[1].Subject != "solo-b" {
		t.Fatalf("denied events %+v, want the subscribe and the publish on devices/fleet-a/t, by solo-b", denied)
	}
}
