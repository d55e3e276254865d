package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/ui"
)

func policyOf(t *testing.T, data string) store.Policy {
	t.Helper()
	var p store.Policy
	if err := json.Unmarshal([]byte(mustGH(t, data, "acl", "list", "--json")), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func ruleIDs(p store.Policy) []string {
	var ids []string
	for _, r := range p.Rules {
		ids = append(ids, r.ID)
	}
	return ids
}

// aclFlow runs every acl command against data, with or without a daemon.
func aclFlow(t *testing.T, data string) {
	p := policyOf(t, data)
	if p.Default != "deny" || !reflect.DeepEqual(ruleIDs(p), []string{"r1", "r2"}) || p.Rules[0].Topic != "kp1/+/+/${cn}/#" {
		t.Fatalf("a new data directory's policy = %+v", p)
	}
	if id := strings.TrimSpace(mustGH(t, data, "acl", "add", "--allow", "--action", "subscribe", "--topic", "kp1/#", "--who", "cn:backend-*")); id != "r3" {
		t.Fatalf("acl add printed %q, want r3", id)
	}
	for name, tc := range map[string]struct {
		args []string
		want app.PolicyDecision
	}{
		"ok/backend reads all telemetry": {[]string{"--cn", "backend-eu", "--action", "subscribe", "--topic", "kp1/#"},
			app.PolicyDecision{Decision: "allow", Rule: "r3", Action: "subscribe", Topic: "kp1/#", Explain: "allow subscribe kp1/# for cn:backend-*"}},
		"ok/device publishes its own": {[]string{"--cn", "dev1", "--action", "publish", "--topic", "kp1/demo-v1/dcx/dev1/json"},
			app.PolicyDecision{Decision: "allow", Rule: "r1", Action: "publish", Topic: "kp1/demo-v1/dcx/dev1/json", Explain: "allow pubsub kp1/+/+/${cn}/# for any"}},
		"fail/device reads another": {[]string{"--cn", "dev1", "--action", "subscribe", "--topic", "kp1/demo-v1/dcx/dev2/#"},
			app.PolicyDecision{Decision: "deny", Rule: "default", Action: "subscribe", Topic: "kp1/demo-v1/dcx/dev2/#", Explain: "no rule applies: default deny"}},
		"fail/anonymous": {[]string{"--anonymous", "--action", "subscribe", "--topic", "kp1/#"},
			app.PolicyDecision{Decision: "deny", Rule: "default", Action: "subscribe", Topic: "kp1/#", Explain: "no rule applies: default deny"}},
	} {
		t.Run(name, func(t *testing.T) {
			var d app.PolicyDecision
			if err := json.Unmarshal([]byte(mustGH(t, data, append([]string{"acl", "test", "--json"}, tc.args...)...)), &d); err != nil {
				t.Fatal(err)
			}
			if d != tc.want {
				t.Fatalf("acl test = %+v, want %+v", d, tc.want)
			}
		})
	}
	if out := mustGH(t, data, "acl", "test", "--cn", "dev1", "--action", "publish", "--topic", "kp1/a/b/dev2/x"); !strings.HasPrefix(out, "deny: publish kp1/a/b/dev2/x, rule default") {
		t.Fatalf("acl test printed %q", out)
	}
	mustGH(t, data, "acl", "move", "r3", "--before", "r1")
	mustGH(t, data, "acl", "default", "allow")
	if p := policyOf(t, data); p.Default != "allow" || !reflect.DeepEqual(ruleIDs(p), []string{"r3", "r1", "r2"}) {
		t.Fatalf("after move and default: %+v", p)
	}
	mustGH(t, data, "acl", "remove", "r3")
	mustGH(t, data, "acl", "default", "deny")
	if p := policyOf(t, data); p.Default != "deny" || !reflect.DeepEqual(ruleIDs(p), []string{"r1", "r2"}) {
		t.Fatalf("after remove: %+v", p)
	}
	if _, errOut, code := gh(t, data, "acl", "remove", "r3"); code != exitError || !strings.Contains(errOut, "not found") {
		t.Fatalf("second remove: exit %d %q", code, errOut)
	}
	var audit []store.AuditRecord
	if err := json.Unmarshal([]byte(mustGH(t, data, "audit", "--json")), &audit); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range audit {
		if strings.HasPrefix(a.Action, "acl.") {
			if a.Actor == "" || a.Actor == "unknown" {
				t.Errorf("%s audited without an actor", a.Action)
			}
			got = append(got, a.Action)
		}
	}
	if want := []string{"acl.default", "acl.remove", "acl.default", "acl.move", "acl.add"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("acl audit = %v, want %v", got, want)
	}
}

func TestACLWithoutDaemon(t *testing.T) { aclFlow(t, initData(t)) }

func TestACLThroughDaemon(t *testing.T) {
	data := t.TempDir()
	startTestDaemon(t, data, "")
	aclFlow(t, data)
}

func TestACLUsageErrorsExit2(t *testing.T) {
	data := initData(t)
	for name, args := range map[string][]string{
		"fail/no effect":       {"acl", "add", "--action", "publish", "--topic", "a"},
		"fail/both effects":    {"acl", "add", "--allow", "--deny", "--action", "publish", "--topic", "a"},
		"fail/bad action":      {"acl", "add", "--allow", "--action", "read", "--topic", "a"},
		"fail/bad filter":      {"acl", "add", "--allow", "--action", "publish", "--topic", "a/#/b"},
		"fail/bad variable":    {"acl", "add", "--allow", "--action", "publish", "--topic", "a/${user}"},
		"fail/bad who":         {"acl", "add", "--allow", "--action", "publish", "--topic", "a", "--who", "user:bob"},
		"fail/empty cert":      {"acl", "add", "--allow", "--action", "publish", "--topic", "a", "--who", "cert:"},
		"fail/bad default":     {"acl", "default", "open"},
		"fail/move no before":  {"acl", "move", "r1"},
		"fail/test no client":  {"acl", "test", "--action", "publish", "--topic", "a"},
		"fail/test two":        {"acl", "test", "--cn", "a", "--anonymous", "--action", "publish", "--topic", "a"},
		"fail/test action":     {"acl", "test", "--cn", "a", "--action", "pubsub", "--topic", "a"},
		"fail/test wild topic": {"acl", "test", "--cn", "a", "--action", "publish", "--topic", "a/+"},
		"fail/bare acl":        {"acl"},
	} {
		t.Run(name, func(t *testing.T) {
			out, errOut, code := gh(t, data, args...)
			if code != exitUsage || strings.Count(errOut, "\n") > 2 {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 and one line", code, out, errOut)
			}
		})
	}
	if p := policyOf(t, data); len(p.Rules) != 2 {
		t.Fatalf("a refused command changed the policy: %+v", p)
	}
}

// TestACLChangeReachesTheBroker grants a backend the right to read every
// device's telemetry with one command, while it is connected.
func TestACLChangeReachesTheBroker(t *testing.T) {
	data, out := t.TempDir(), filepath.Join(t.TempDir(), "backend-eu")
	d := startTestDaemon(t, data, "")
	mustGH(t, data, "cert", "create", "--cn", "backend-eu", "--out", out)
	c := connectDevice(t, d, out, "backend-eu", nil)
	defer c.Disconnect(0)
	sub := func() byte {
		tok := c.Subscribe("kp1/#", 0, nil)
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe: %v", tok.Error())
		}
		return tok.(*paho.SubscribeToken).Result()["kp1/#"]
	}
	if code := sub(); code != 0x80 {
		t.Fatalf("before the rule: SUBACK %#x, want 0x80", code)
	}
	mustGH(t, data, "acl", "add", "--allow", "--action", "subscribe", "--topic", "kp1/#", "--who", "cn:backend-*")
	if code := sub(); code != 0 {
		t.Fatalf("after acl add: SUBACK %#x, want 0", code)
	}
	var certs []app.CertView
	if err := json.Unmarshal([]byte(mustGH(t, data, "cert", "list", "--json")), &certs); err != nil || len(certs) != 1 {
		t.Fatalf("cert list: %v %+v", err, certs)
	}
	var detail app.CertDetail
	if err := json.Unmarshal([]byte(mustGH(t, data, "cert", "show", certs[0].Serial, "--json")), &detail); err != nil {
		t.Fatal(err)
	}
	if detail.Denials != 1 || len(detail.Rights) != 3 || detail.Rights[2].Topic != "kp1/#" || detail.Rights[0].Topic != "kp1/+/+/backend-eu/#" {
		t.Fatalf("cert show: denials %d, rights %+v", detail.Denials, detail.Rights)
	}
}

// TestTUIPolicyPage edits the policy from the Policy view of a real stack
// and checks what the store holds.
func TestTUIPolicyPage(t *testing.T) {
	d := startTestDaemon(t, t.TempDir(), "tui")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tm := teatest.NewTestModel(t, ui.New(d.app, ui.WithContext(ctx)), teatest.WithInitialTermSize(120, 30))
	waitFor := func(want string) {
		t.Helper()
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(want)) },
			teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
	}
	runes := func(s string) { tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}) }
	enter := func() { tm.Send(tea.KeyMsg{Type: tea.KeyEnter}) }

	waitFor("policy default deny")
	runes("7")
	waitFor("2 rules")
	runes("a")
	runes("allow subscribe kp1/# cn:backend-*")
	enter()
	waitFor("added r3")
	runes("G")
	runes("K")
	waitFor("moved r3 up")
	runes("t")
	runes("cn:backend-1 subscribe kp1/#")
	enter()
	waitFor("ALLOW: cn:backend-1 subscribe kp1/#, rule r3")
	runes("d")
	waitFor("Set the default to ALLOW?")
	runes("y")
	waitFor("policy OPEN")

	p, err := d.app.Policy(ctx)
	if err != nil || p.Default != "allow" || !reflect.DeepEqual(ruleIDs(p), []string{"r1", "r3", "r2"}) {
		t.Fatalf("store after the TUI: %+v, %v", p, err)
	}
	runes("x") // the cursor followed r3 up
	waitFor("Remove rule r3")
	runes("y")
	waitFor("removed r3")
	if p, _ := d.app.Policy(ctx); !reflect.DeepEqual(ruleIDs(p), []string{"r1", "r2"}) {
		t.Fatalf("store after x: %+v", p)
	}
	audit, err := d.app.Audit(ctx, store.AuditQuery{Limit: 2})
	if err != nil || audit[0].Action != "acl.remove" || audit[1].Action != "acl.default" || audit[0].Actor != "tui" {
		t.Fatalf("audit: %+v, %v", audit, err)
	}
	runes("q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}

// A cert: selector takes a serial prefix or a CN, as every command does,
// and stores the certificate's ID.
func TestACLCertSelectorResolvesPrefix(t *testing.T) {
	data := initData(t)
	serial := strings.TrimSpace(mustGH(t, data, "cert", "create", "--cn", "ops", "--out", filepath.Join(t.TempDir(), "ops")))
	id := certIDOf(t, data, "ops")
	mustGH(t, data, "acl", "add", "--allow", "--action", "subscribe", "--topic", "$SYS/#", "--who", "cert:"+serial[:8])
	mustGH(t, data, "acl", "add", "--allow", "--action", "publish", "--topic", "ops/#", "--who", "cert:ops")
	if p := policyOf(t, data); p.Rules[2].Who != "cert:"+id || p.Rules[3].Who != "cert:"+id {
		t.Fatalf("stored selectors %q %q, want cert:%s", p.Rules[2].Who, p.Rules[3].Who, id)
	}
	for _, ref := range []string{serial[:8], id, "ops"} {
		if out := mustGH(t, data, "acl", "test", "--cert", ref, "--action", "subscribe", "--topic", "$SYS/#"); !strings.HasPrefix(out, "allow:") {
			t.Fatalf("acl test --cert %s: %q", ref, out)
		}
	}
	if _, _, code := gh(t, data, "acl", "add", "--allow", "--action", "publish", "--topic", "x", "--who", "cert:abcdef99"); code != exitError {
		t.Fatalf("a rule for an unknown certificate: exit %d, want 1", code)
	}
}

// certIDOf is the ID of the stored certificate with common name cn.
func certIDOf(t *testing.T, data, cn string) string {
	t.Helper()
	var certs []struct{ ID, CN string }
	if err := json.Unmarshal([]byte(mustGH(t, data, "cert", "list", "--json")), &certs); err != nil {
		t.Fatal(err)
	}
	for _, c := range certs {
		if c.CN == cn {
			return c.ID
		}
	}
	t.Fatalf("no certificate %s in %+v", cn, certs)
	return ""
}

// ca:NAME selects by the issuer's DER name: our issuing CA by its name or
// CN, an operator-trusted CA by its own; a trusted partner CA whose CN copies
// ours, with a leaf holding our k1's serial, gets none of k1's or our CA's
// rules. A CA trusted after its rule was written is selected at once.
func TestACLCASelectorIsTheIssuersIdentity(t *testing.T) {
	data, dir := t.TempDir(), t.TempDir()
	d := startTestDaemon(t, data, "")
	k1Dir := filepath.Join(t.TempDir(), "k1")
	serial := strings.TrimSpace(mustGH(t, data, "cert", "create", "--cn", "k1", "--out", k1Dir))
	k1 := certIDOf(t, data, "k1")
	for _, r := range [][2]string{
		{"by-id/#", "cert:k1"}, {"by-ca/#", "ca:default"}, {"by-ca-cn/#", "ca:Gatehouse Issuing CA"},
		{"by-partner/#", "ca:Partner Meters"}, {"by-none/#", "ca:nobody"},
	} {
		mustGH(t, data, "acl", "add", "--allow", "--action", "subscribe", "--topic", r[0], "--who", r[1])
	}
	copycat := namedCA(t, dir, "Gatehouse Issuing CA", "copy", serial)
	partner := namedCA(t, t.TempDir(), "Partner Meters", "meter", "1004")
	mustGH(t, data, "ca", "trust", copycat)
	mustGH(t, data, "ca", "trust", partner, "--auto-register")
	mustGH(t, data, "cert", "import", filepath.Join(dir, "leaf.pem"))
	copyID := certIDOf(t, data, "copy")
	if !strings.HasPrefix(copyID, serial+"/") || copyID == k1 {
		t.Fatalf("the copycat's leaf %s, want serial %s under another issuer than %s", copyID, serial, k1)
	}
	for name, tc := range map[string]struct {
		cert, topic, want string
	}{
		"ok/k1 by id":            {k1, "by-id/#", "allow"},
		"ok/k1 by ca name":       {k1, "by-ca/#", "allow"},
		"ok/k1 by ca cn":         {k1, "by-ca-cn/#", "allow"},
		"fail/k1 by partner":     {k1, "by-partner/#", "deny"},
		"fail/k1 by no ca":       {k1, "by-none/#", "deny"},
		"fail/copy by k1's id":   {copyID, "by-id/#", "deny"},
		"fail/copy by our name":  {copyID, "by-ca/#", "deny"},
		"fail/copy by our ca cn": {copyID, "by-ca-cn/#", "deny"},
	} {
		t.Run(name, func(t *testing.T) {
			var got app.PolicyDecision
			if err := json.Unmarshal([]byte(mustGH(t, data, "acl", "test", "--json", "--cert", tc.cert, "--action", "subscribe", "--topic", tc.topic)), &got); err != nil {
				t.Fatal(err)
			}
			if got.Decision != tc.want {
				t.Fatalf("acl test = %+v, want %s", got, tc.want)
			}
		})
	}

	// The broker got the policy rebuilt when the partner CA was trusted,
	// after its rule was written.
	mustGH(t, data, "ca", "export", "--out", filepath.Join(filepath.Dir(partner), "ca.pem"))
	c := connectDevice(t, d, filepath.Dir(partner), "meter", nil)
	defer c.Disconnect(0)
	tok := c.Subscribe("by-partner/#", 0, nil)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	if code := tok.(*paho.SubscribeToken).Result()["by-partner/#"]; code != 0 {
		t.Fatalf("the partner's device: SUBACK %#x, want 0", code)
	}
}

// namedCA writes to dir a CA with common name caCN (partner-ca.pem) and its
// client leaf for cn with the hex serial (leaf.pem, client.crt, client.key).
func namedCA(t *testing.T, dir, caCN, cn, serial string) string {
	t.Helper()
	n, ok := new(big.Int).SetString(serial, 16)
	if !ok {
		t.Fatalf("serial %q", serial)
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: caCN},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: n, Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(12 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER})
	for name, body := range map[string][]byte{
		"partner-ca.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		"leaf.pem":       leaf, "client.crt": leaf,
		"client.key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "partner-ca.pem")
}
