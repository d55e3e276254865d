package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/pki/pkitest"
	"github.com/gatehouse/gatehouse/store"
)

// deviceFiles issues a certificate with the CLI and returns its serial and
// a TLS configuration built from the files it wrote.
func deviceFiles(t *testing.T, data, cn string) (string, *tls.Config) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), cn)
	serial := strings.TrimSpace(mustGH(t, data, "cert", "create", "--cn", cn, "--out", dir))
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	return serial, &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

// mqttsAddr is the daemon's bound mqtts address.
func mqttsAddr(t *testing.T, d *daemon) string {
	t.Helper()
	ts, err := d.app.Transports(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range ts {
		if tr.Name == broker.TransportMQTTS {
			return tr.Addr
		}
	}
	t.Fatal("no mqtts transport")
	return ""
}

func pahoConnect(t *testing.T, addr, id string, cfg *tls.Config) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + addr).SetClientID(id).SetTLSConfig(cfg).SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

// cert revoke --purge-retained deletes what the device left retained: a new
// subscriber gets none of it, and the purge is audited.
func TestRevokePurgesRetainedThroughDaemon(t *testing.T) {
	data := t.TempDir()
	d := startTestDaemon(t, data, "")
	addr := mqttsAddr(t, d)
	serialA, cfgA := deviceFiles(t, data, "devA")
	_, cfgB := deviceFiles(t, data, "devB")
	// Default deny: devA writes under its own devices/devA/, and devB is
	// let read every device's state, so the check below can see a leftover.
	mustGH(t, data, "acl", "add", "--allow", "--action", "subscribe", "--topic", "devices/#", "--who", "cn:devB")
	a := pahoConnect(t, addr, "devA", cfgA)
	if tok := a.Publish("devices/devA/state", 1, true, "on"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}

	var res []map[string]any
	if err := json.Unmarshal([]byte(mustGH(t, data, "cert", "revoke", serialA, "--purge-retained", "--json")), &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0]["purged_retained"] != 1.0 || res[0]["dropped"] != 1.0 {
		t.Fatalf("revoke --purge-retained: %v", res)
	}

	got := make(chan string, 8)
	b := pahoConnect(t, addr, "devB", cfgB)
	tok := b.Subscribe("devices/#", 1, func(_ paho.Client, m paho.Message) { got <- m.Topic() })
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	if code := tok.(*paho.SubscribeToken).Result()["devices/#"]; code == 0x80 {
		t.Fatal("subscription refused: the check below would prove nothing")
	}
	select {
	case topic := <-got:
		t.Fatalf("a new subscriber got the revoked device's retained %s", topic)
	case <-time.After(500 * time.Millisecond):
	}
	var audit []store.AuditRecord
	if err := json.Unmarshal([]byte(mustGH(t, data, "audit", "--serial", serialA, "--json")), &audit); err != nil {
		t.Fatal(err)
	}
	if len(audit) == 0 || audit[0].Action != "cert.purge_retained" || !strings.Contains(audit[0].Detail, "1 retained message") {
		t.Fatalf("audit: %+v", audit)
	}
}

// ca trust is strict unless --auto-register; ca strict switches it; ca
// untrust drops the sessions that relied on the CA, through the daemon.
func TestCATrustModesAndUntrust(t *testing.T) {
	data := t.TempDir()
	d := startTestDaemon(t, data, "")
	leaf, ca := pkitest.Foreign(t, "partner-device")
	caFile := filepath.Join(t.TempDir(), "partner-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := gh(t, data, "ca", "trust", caFile, "--strict", "--auto-register"); code != exitUsage || !strings.Contains(errOut, "exclude each other") {
		t.Fatalf("both modes: exit %d %q", code, errOut)
	}
	if out := mustGH(t, data, "ca", "trust", caFile); !strings.Contains(out, "strict") {
		t.Fatalf("default trust: %q", out)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(d.app.Authority().RootPEM())
	cfg := &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{leaf}, MinVersion: tls.VersionTLS12}
	addr := mqttsAddr(t, d)
	c := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + addr).SetClientID("partner").SetTLSConfig(cfg).SetAutoReconnect(false))
	if tok := c.Connect(); tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
		t.Fatal("a strict CA's unregistered certificate connected")
	}
	cn := ca.Subject.CommonName
	if out := mustGH(t, data, "ca", "strict", cn, "off"); !strings.Contains(out, "auto-register") {
		t.Fatalf("strict off: %q", out)
	}
	pahoConnect(t, addr, "partner", cfg)

	var r app.UntrustResult
	if err := json.Unmarshal([]byte(mustGH(t, data, "ca", "untrust", cn, "--json")), &r); err != nil {
		t.Fatal(err)
	}
	if r.Dropped != 1 || r.CA.Subject != ca.Subject.String() {
		t.Fatalf("untrust: %+v", r)
	}
	if _, errOut, code := gh(t, data, "ca", "untrust", cn); code != exitError || !strings.Contains(errOut, "no operator-trusted CA") {
		t.Fatalf("untrust again: exit %d %q", code, errOut)
	}
	if _, _, code := gh(t, data, "ca", "strict", cn, "maybe"); code != exitUsage {
		t.Fatalf("strict maybe: exit %d", code)
	}
	var audit []store.AuditRecord
	if err := json.Unmarshal([]byte(mustGH(t, data, "audit", "--json")), &audit); err != nil {
		t.Fatal(err)
	}
	if audit[0].Action != "ca.untrust" || audit[0].Actor == "" || audit[0].Actor == "unknown" {
		t.Fatalf("audit %+v", audit[0])
	}
}
