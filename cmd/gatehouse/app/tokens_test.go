package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// connectToken opens a paho 3.1.1 session with a token and the root only.
func connectToken(t *testing.T, a *App, addr, id, user, tok string) (paho.Client, chan error, error) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(a.Authority().RootPEM())
	lost := make(chan error, 1)
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tls://" + addr).SetClientID(id).
		SetTLSConfig(&tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12}).
		SetUsername(user).SetPassword(tok).SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err }))
	tk := c.Connect()
	if !tk.WaitTimeout(10 * time.Second) {
		t.Fatal("connect timed out")
	}
	if tk.Error() == nil {
		t.Cleanup(func() { c.Disconnect(0) })
	}
	return c, lost, tk.Error()
}

func waitDropped(t *testing.T, lost chan error, what string) {
	t.Helper()
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s was not dropped", what)
	}
}

// The Service's token commands work end to end on a running broker: a
// subject suspended through the Service loses its live session, audited
// with the actor; untrusting an issuer drops the sessions its tokens hold;
// auth modes are kept for mqtts, wss and https.
func TestTokenServiceDropsAndAudits(t *testing.T) {
	a, addr := openTestApp(t)
	ctx := WithActor(context.Background(), "ops")
	if _, err := a.SetAuthMode(ctx, broker.TransportMQTTS, broker.AuthJWT); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetAuthMode(ctx, broker.TransportHTTPS, broker.AuthEither); err != nil {
		t.Fatalf("https is a transport for auth mode: %v", err)
	}
	var uerr UsageError
	if _, err := a.SetAuthMode(ctx, "ftp", broker.AuthJWT); !errors.As(err, &uerr) {
		t.Fatalf("unknown transport: %v, want a usage error", err)
	}
	it, err := a.CreateToken(ctx, TokenRequest{Subject: "dev1", TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateToken(ctx, TokenRequest{Subject: "dev1", TTL: "5x"}); !errors.As(err, &uerr) {
		t.Fatalf("bad ttl: %v, want a usage error", err)
	}
	_, lost, err := connectToken(t, a, addr, "d1", "dev1", it.Token)
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.TokenTransition(ctx, "dev1", store.StateSuspended, "lost")
	if err != nil || res.Dropped != 1 || res.Subject.State != store.StateSuspended {
		t.Fatalf("suspend: %+v, %v; want suspended, 1 dropped", res, err)
	}
	waitDropped(t, lost, "the suspended subject's session")
	recs, err := a.Audit(ctx, store.AuditQuery{Limit: 1})
	if err != nil || len(recs) != 1 || recs[0].Action != "token.suspend" || recs[0].Actor != "ops" || recs[0].Subject != "dev1" || recs[0].Dropped != 1 {
		t.Fatalf("audit %+v, %v", recs, err)
	}
	if _, err := a.TokenTransition(ctx, it.Record.JTI, store.StateActive, ""); err != nil {
		t.Fatalf("reactivate by jti acts on its subject: %v", err)
	}

	// An operator's issuer, trusted then untrusted.
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if _, err := a.TrustTokenKeys(ctx, "partner", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})); err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": "p1", "aud": pki.DefaultTokenAudience, "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "partner"
	raw, _ := tok.SignedString(k)
	_, lost, err = connectToken(t, a, addr, "p1", "p1", raw)
	if err != nil {
		t.Fatal(err)
	}
	ur, err := a.UntrustTokenKeys(ctx, "partner")
	if err != nil || ur.Dropped != 1 || len(ur.Keys) != 1 {
		t.Fatalf("untrust: %+v, %v; want 1 key, 1 dropped", ur, err)
	}
	waitDropped(t, lost, "the untrusted issuer's session")
	// A trusted issuer's subject is recorded from the connected event,
	// which the App consumes on its own goroutine: wait for it, bounded.
	var l TokenList
	subs := map[string]store.State{}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if l, err = a.Tokens(ctx); err != nil {
			t.Fatal(err)
		}
		for _, s := range l.Subjects {
			subs[s.Subject] = s.State
		}
		if _, ok := subs["p1"]; ok || time.Now().After(deadline) {
			break
		}
	}
	if subs["dev1"] != store.StateActive || subs["p1"] != store.StateActive || len(l.Issued) != 1 {
		t.Fatalf("token list %+v: want dev1 and p1 (recorded at first use) active, one issued token", l)
	}

	modes, err := a.AuthModes(ctx)
	if err != nil || modes[0].Mode != broker.AuthJWT || modes[2].Transport != broker.TransportHTTPS || modes[2].Mode != broker.AuthEither {
		t.Fatalf("auth modes %+v, %v", modes, err)
	}
}

// acl test --sub judges a client with a token alone: ${sub} and sub:GLOB
// apply to it, the certificate selectors do not.
func TestPolicyTestForATokenSubject(t *testing.T) {
	a, err := Open(Config{DataDir: t.TempDir(), Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	ctx := context.Background()
	for _, r := range []store.Rule{
		{Effect: "allow", Action: "pubsub", Topic: "meters/${sub}/#", Who: "sub:meter-*"},
		{Effect: "allow", Action: "pubsub", Topic: "certs/#", Who: "cn:*"},
	} {
		if _, err := a.AddRule(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for name, tc := range map[string]struct {
		q    PolicyTest
		want string
	}{
		"ok/own topic":             {PolicyTest{Subject: "meter-7", Action: "publish", Topic: "meters/meter-7/t"}, "allow"},
		"fail/another's topic":     {PolicyTest{Subject: "meter-7", Action: "publish", Topic: "meters/meter-8/t"}, "deny"},
		"fail/not a meter":         {PolicyTest{Subject: "pump-1", Action: "publish", Topic: "meters/pump-1/t"}, "deny"},
		"fail/cn:* is not a token": {PolicyTest{Subject: "meter-7", Action: "publish", Topic: "certs/x"}, "deny"},
		"ok/cn:* is a certificate": {PolicyTest{CN: "dev1", Action: "publish", Topic: "certs/x"}, "allow"},
	} {
		t.Run(name, func(t *testing.T) {
			d, err := a.TestPolicy(ctx, tc.q)
			if err != nil || d.Decision != tc.want {
				t.Fatalf("TestPolicy(%+v) = %+v, %v; want %s", tc.q, d, err, tc.want)
			}
		})
	}
}
