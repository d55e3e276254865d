package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/gatehouse/gatehouse/store"
)

// connectWith opens a paho session with b's certificate and key.
func connectWith(t *testing.T, addr string, b Bundle, keyPEM, clientID string) paho.Client {
	t.Helper()
	cert, err := tls.X509KeyPair([]byte(b.ChainPEM), []byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(b.CAPEM))
	c := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + addr).SetClientID(clientID).SetAutoReconnect(false).
		SetTLSConfig(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", clientID, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
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
	b, err := a.RenewCert(ctx, RenewRequest{Serial: old.Cert.Serial, CSRPEM: csr("dev-c")})
	if err != nil {
		t.Fatal(err)
	}
	if b.KeyPEM != "" || b.Cert.Source != store.SourceSigned || b.Cert.Renews != old.Cert.ID {
		t.Fatalf("CSR renewal: key returned %v, source %s, renews %q", b.KeyPEM != "", b.Cert.Source, b.Cert.Renews)
	}
	if _, err := a.RenewCert(ctx, RenewRequest{Serial: old.Cert.Serial, CSRPEM: csr("someone-else")}); err == nil || !strings.Contains(err.Error(), "someone-else") {
		t.Errorf("a CSR for another CN: %v", err)
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
