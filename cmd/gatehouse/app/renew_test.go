package app

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	pahov5 "github.com/eclipse/paho.golang/paho"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// connectWith opens a paho session with b's certificate and key.
func connectWith(t *testing.T, addr string, b Bundle, keyPEM, clientID string) paho.Client {
	t.Helper()
	c, err := dial(t, addr, b, keyPEM, clientID)
	if err != nil {
		t.Fatalf("connect %s: %v", clientID, err)
	}
	return c
}

// dial tries to open a paho session with b's certificate and key.
func dial(t testing.TB, addr string, b Bundle, keyPEM, clientID string) (paho.Client, error) {
	t.Helper()
	cert, err := tls.X509KeyPair([]byte(b.ChainPEM), []byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(b.CAPEM))
	c := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + addr).SetClientID(clientID).SetAutoReconnect(false).
		SetConnectTimeout(5 * time.Second).
		SetTLSConfig(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, errors.New("connect timed out")
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The old certificate keeps working after renew until the new one is used;
// then it is revoked as superseded and its live session drops.
func TestRenewSupersedesOnFirstUse(t *testing.T) {
	a, addr := openTestApp(t)
	ctx := context.Background()
	old, err := a.IssueClient(ctx, IssueRequest{CN: "dev-r", TTL: "30d"})
	if err != nil {
		t.Fatal(err)
	}
	oldSession := connectWith(t, addr, old, old.KeyPEM, "dev-r-old")
	renewed, err := a.RenewCert(ctx, RenewRequest{Serial: old.Cert.Serial, TTL: "90d"})
	if err != nil {
		t.Fatal(err)
	}
	if renewed.Cert.CN != "dev-r" || renewed.Cert.Renews != old.Cert.ID || renewed.KeyPEM == "" {
		t.Fatalf("successor %+v", renewed.Cert)
	}
	if c, _ := a.st.GetCert(old.Cert.ID); c.State != store.StateActive || !oldSession.IsConnectionOpen() {
		t.Fatalf("before first use of the successor the old one is %s (connected %v), want active and connected", c.State, oldSession.IsConnectionOpen())
	}
	connectWith(t, addr, renewed, renewed.KeyPEM, "dev-r-new")
	waitFor(t, "the old certificate to be superseded", func() bool {
		c, _ := a.st.GetCert(old.Cert.ID)
		return c.State == store.StateRevoked && strings.HasPrefix(c.Reason, "superseded by "+renewed.Cert.Serial)
	})
	waitFor(t, "the old session to drop", func() bool { return !oldSession.IsConnectionOpen() })
	if _, err := a.RenewCert(ctx, RenewRequest{Serial: old.Cert.Serial}); err == nil {
		t.Error("a revoked certificate was renewed")
	}
}

func TestRenewWithCSR(t *testing.T) {
	a, _ := openTestApp(t)
	ctx := context.Background()
	old, err := a.IssueClient(ctx, IssueRequest{CN: "dev-c"})
	if err != nil {
		t.Fatal(err)
	}
	csr := func(cn string) string {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	}
	if _, err := a.RenewCert(ctx, RenewRequest{Serial: old.Cert.Serial, CSRPEM: csr("someone-else")}); err == nil || !strings.Contains(err.Error(), "someone-else") {
		t.Errorf("a CSR for another CN: %v", err)
	}
	b, err := a.RenewCert(ctx, RenewRequest{Serial: old.Cert.Serial, CSRPEM: csr("dev-c")})
	if err != nil {
		t.Fatal(err)
	}
	if b.KeyPEM != "" || b.Cert.Source != store.SourceSigned || b.Cert.Renews != old.Cert.ID {
		t.Fatalf("CSR renewal: key returned %v, source %s, renews %q", b.KeyPEM != "", b.Cert.Source, b.Cert.Renews)
	}
}

// A device renews itself over MQTT: it publishes a CSR for its own CN,
// receives its new certificate, reconnects with it, and the old certificate
// is retired.
func TestInBandRenewalOverMQTT(t *testing.T) {
	a, addr := openTestApp(t)
	ctx := context.Background()
	old, err := a.IssueClient(ctx, IssueRequest{CN: "field-dev", TTL: "30d"})
	if err != nil {
		t.Fatal(err)
	}
	replies := make(chan []byte, 4)
	cert, err := tls.X509KeyPair([]byte(old.ChainPEM), []byte(old.KeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(old.CAPEM))
	dev := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + addr).SetClientID("field-dev").SetAutoReconnect(false).
		SetTLSConfig(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { replies <- m.Payload() }))
	if tok := dev.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer dev.Disconnect(0)

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "field-dev"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	ask := func(payload string) map[string]string {
		t.Helper()
		if tok := dev.Publish("$gatehouse/certificates/csr", 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish CSR: %v", tok.Error())
		}
		select {
		case raw := <-replies:
			var out map[string]string
			if err := json.Unmarshal(raw, &out); err != nil {
				t.Fatalf("reply %q: %v", raw, err)
			}
			return out
		case <-time.After(5 * time.Second):
			t.Fatal("no renewal reply")
		}
		return nil
	}
	if r := ask(`{"csr": 42}`); r["status"] != "rejected" || r["error"] == "" {
		t.Fatalf("malformed request: %v", r)
	}
	csrPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	body, _ := json.Marshal(map[string]string{"csr": csrPEM})
	r := ask(string(body))
	if r["status"] != "accepted" || r["certificate_pem"] == "" {
		t.Fatalf("renewal: %v", r)
	}
	if again := ask(string(body)); again["status"] != "rejected" || !strings.Contains(again["error"], "too often") {
		t.Errorf("a second request within a minute: %v", again)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	connectWith(t, addr, Bundle{ChainPEM: r["certificate_pem"], CAPEM: old.CAPEM}, keyPEM, "field-dev-2")
	waitFor(t, "the old certificate to be superseded", func() bool {
		c, _ := a.st.GetCert(old.Cert.ID)
		return c.State == store.StateRevoked
	})
	waitFor(t, "the old session to drop", func() bool { return !dev.IsConnectionOpen() })
	if n, _ := a.st.GetCert(r["id"]); n.NotAfter.Sub(n.NotBefore) < 29*24*time.Hour || n.NotAfter.Sub(n.NotBefore) > 31*24*time.Hour {
		t.Errorf("the successor lives %v, want the old 30d", n.NotAfter.Sub(n.NotBefore))
	}
}

func TestInBandRenewalSwitchedOff(t *testing.T) {
	a, _ := openTestApp(t)
	ctx := context.Background()
	if err := a.SetRenewal(ctx, false); err != nil {
		t.Fatal(err)
	}
	old, err := a.IssueClient(ctx, IssueRequest{CN: "no-renew"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.renewInBand(old.Cert.ID, nil); err == nil || !strings.Contains(err.Error(), "off") {
		t.Fatalf("renewal while off: %v", err)
	}
}

// csrWith is a PEM CSR for cn signed by key, with the given DNS SANs.
func csrWith(t *testing.T, key crypto.Signer, cn string, dns ...string) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: dns}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// Renewing with the device's own key (its CSR): the successor's first use
// retires the old certificate without blocking the key both carry, so the
// successor keeps connecting and only the old certificate is refused.
func TestRenewWithTheSameKeyKeepsTheDeviceIn(t *testing.T) {
	a, addr := openTestApp(t)
	ctx := context.Background()
	old, err := a.IssueClient(ctx, IssueRequest{CN: "dev-k"})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(old.KeyPEM))
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	next, err := a.RenewCert(ctx, RenewRequest{Serial: old.Cert.Serial, CSRPEM: csrWith(t, key.(crypto.Signer), "dev-k")})
	if err != nil {
		t.Fatal(err)
	}
	first := connectWith(t, addr, next, old.KeyPEM, "dev-k-1")
	waitFor(t, "the old certificate to be superseded", func() bool {
		c, _ := a.st.GetCert(old.Cert.ID)
		return c.State == store.StateRevoked
	})
	first.Disconnect(0)
	connectWith(t, addr, next, old.KeyPEM, "dev-k-2")
	if _, err := dial(t, addr, old, old.KeyPEM, "dev-k-old"); err == nil {
		t.Error("the superseded certificate connected")
	}
	if c, _ := a.st.GetCert(next.Cert.ID); c.State != store.StateActive {
		t.Errorf("the successor is %s, want active", c.State)
	}
}

// Suspending or revoking the old certificate while its successor is pending
// keeps the device out: the successor follows, and the predecessor keeps
// the state the operator gave it.
func TestPendingSuccessorFollowsTheOperator(t *testing.T) {
	for name, to := range map[string]store.State{"suspend": store.StateSuspended, "revoke": store.StateRevoked} {
		t.Run(name, func(t *testing.T) {
			a, addr := openTestApp(t)
			ctx := context.Background()
			old, err := a.IssueClient(ctx, IssueRequest{CN: "dev-" + name})
			if err != nil {
				t.Fatal(err)
			}
			next, err := a.RenewCert(ctx, RenewRequest{Serial: old.Cert.Serial})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Transition(ctx, old.Cert.Serial, to, "stolen"); err != nil {
				t.Fatal(err)
			}
			if _, err := dial(t, addr, next, next.KeyPEM, "dev-next"); err == nil {
				t.Errorf("the pending successor connected after its predecessor was %s", to)
			}
			for _, id := range []string{old.Cert.ID, next.Cert.ID} {
				if c, _ := a.st.GetCert(id); c.State != to {
					t.Errorf("%s is %s, want %s", c.Serial, c.State, to)
				}
			}
		})
	}
}

// In-band renewal also refuses a second request while the first successor
// is unused (the per-minute limit lives in memory only).
func TestInBandRenewalRefusedWhilePending(t *testing.T) {
	a, _ := openTestApp(t)
	old, err := a.IssueClient(context.Background(), IssueRequest{CN: "dev-p"})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, first, err := a.renewInBand(old.Cert.ID, []byte(csrWith(t, key, "dev-p")))
	if err != nil {
		t.Fatal(err)
	}
	succ, _ := a.st.GetCert(first)
	if _, _, err := a.renewInBand(old.Cert.ID, []byte(csrWith(t, key, "dev-p"))); !errors.Is(err, pki.ErrRenewalPending) || !strings.Contains(err.Error(), succ.Serial) {
		t.Errorf("second in-band renewal: %v, want renewal pending: %s", err, succ.Serial)
	}
}

// A device's response topic must be a plain topic name of its own; else the
// broker refuses the request on the default reply topic and signs nothing.
// A device cannot widen its SANs either.
func TestInBandRenewalChecksTheRequest(t *testing.T) {
	a, addr := openTestApp(t)
	ctx := context.Background()
	old, err := a.IssueClient(ctx, IssueRequest{CN: "dev-t"})
	if err != nil {
		t.Fatal(err)
	}
	type msg struct{ topic, body string }
	replies := make(chan msg, 4)
	cert, err := tls.X509KeyPair([]byte(old.ChainPEM), []byte(old.KeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(old.CAPEM))
	dev := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + addr).SetClientID("dev-t").SetAutoReconnect(false).
		SetTLSConfig(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { replies <- msg{m.Topic(), string(m.Payload())} }))
	if tok := dev.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer dev.Disconnect(0)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csrPEM := csrWith(t, key, "dev-t", "bank.example")
	ask := func(topic string) (string, map[string]string) {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"csr": csrPEM, "response_topic": topic})
		if tok := dev.Publish("$gatehouse/certificates/csr", 1, false, body); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish CSR: %v", tok.Error())
		}
		select {
		case m := <-replies:
			var out map[string]string
			if err := json.Unmarshal([]byte(m.body), &out); err != nil {
				t.Fatalf("reply %q: %v", m.body, err)
			}
			return m.topic, out
		case <-time.After(5 * time.Second):
			t.Fatal("no renewal reply")
		}
		return "", nil
	}
	for name, topic := range map[string]string{
		"multi-level wildcard":  "devices/#",
		"single-level wildcard": "devices/+/reply",
		"reserved":              "$SYS/broker/reply",
		"empty first level":     "/devices/reply",
		"NUL":                   "devices/\x00/reply",
		"too long":              strings.Repeat("d", 257),
	} {
		got, r := ask(topic)
		if got != "$gatehouse/certificates/csr/reply" || r["status"] != "rejected" || !strings.Contains(r["error"], "response topic") {
			t.Errorf("%s: reply on %q: %v, want rejected on the default topic", name, got, r)
		}
	}
	if certs, _, _ := a.st.ListCerts(store.CertQuery{CNPrefix: "dev-t"}); len(certs) != 1 {
		t.Fatalf("%d certificates after refused requests, want the old one only", len(certs))
	}
	got, r := ask("devices/dev-t/reply")
	if got != "devices/dev-t/reply" || r["status"] != "accepted" {
		t.Fatalf("a plain response topic: reply on %q: %v", got, r)
	}
	if n, _ := a.st.GetCert(r["id"]); len(n.SANs) != 0 {
		t.Errorf("the device's own renewal took SANs %v its certificate never had", n.SANs)
	}
}

// The MQTT 5 Response Topic property is checked like the JSON field; an
// accepted reply goes to it with the request's correlation data.
func TestInBandRenewalChecksTheMQTT5ResponseTopic(t *testing.T) {
	a, addr := openTestApp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	old, err := a.IssueClient(ctx, IssueRequest{CN: "dev-5"})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair([]byte(old.ChainPEM), []byte(old.KeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(old.CAPEM))
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	replies := make(chan *pahov5.Publish, 4)
	c := pahov5.NewClient(pahov5.ClientConfig{Conn: conn, OnPublishReceived: []func(pahov5.PublishReceived) (bool, error){
		func(p pahov5.PublishReceived) (bool, error) { replies <- p.Packet; return true, nil }}})
	if _, err := c.Connect(ctx, &pahov5.Connect{ClientID: "dev-5", CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(&pahov5.Disconnect{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	body, _ := json.Marshal(map[string]string{"csr": csrWith(t, key, "dev-5")})
	ask := func(topic string) (*pahov5.Publish, map[string]string) {
		t.Helper()
		if _, err := c.Publish(ctx, &pahov5.Publish{Topic: "$gatehouse/certificates/csr", QoS: 1, Payload: body,
			Properties: &pahov5.PublishProperties{ResponseTopic: topic, CorrelationData: []byte("req-1")}}); err != nil {
			t.Fatalf("publish CSR: %v", err)
		}
		select {
		case p := <-replies:
			var out map[string]string
			if err := json.Unmarshal(p.Payload, &out); err != nil {
				t.Fatalf("reply %q: %v", p.Payload, err)
			}
			return p, out
		case <-time.After(5 * time.Second):
			t.Fatal("no renewal reply")
		}
		return nil, nil
	}
	if p, r := ask("devices/+/reply"); p.Topic != "$gatehouse/certificates/csr/reply" || r["status"] != "rejected" {
		t.Errorf("wildcard Response Topic: reply on %q: %v, want rejected on the default topic", p.Topic, r)
	}
	p, r := ask("devices/dev-5/reply")
	if p.Topic != "devices/dev-5/reply" || r["status"] != "accepted" {
		t.Fatalf("plain Response Topic: reply on %q: %v", p.Topic, r)
	}
	if p.Properties == nil || string(p.Properties.CorrelationData) != "req-1" {
		t.Errorf("correlation data %+v, want req-1", p.Properties)
	}
}
