package broker_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	pahov5 "github.com/eclipse/paho.golang/paho"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/broker/policy"
	"github.com/gatehouse/gatehouse/pki/pkitest"
	"github.com/gatehouse/gatehouse/store"
)

// compilePolicy is the store's starter policy (what a new data directory
// ships with) plus extra rules.
func compilePolicy(tb testing.TB, extra ...policy.Rule) *policy.Policy {
	tb.Helper()
	sp := store.StarterPolicy()
	var rules []policy.Rule
	for _, r := range sp.Rules {
		rules = append(rules, policy.Rule{ID: r.ID, Effect: r.Effect, Action: r.Action, Topic: r.Topic, Who: r.Who})
	}
	p, err := policy.Compile(append(rules, extra...), sp.Default)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func withPolicy(p *policy.Policy) func(*broker.Config) {
	return func(c *broker.Config) { c.Policy = p }
}

// subscribe returns the SUBACK code paho saw for filter.
func subscribe(tb testing.TB, c *client, filter string) byte {
	tb.Helper()
	tok := c.Subscribe(filter, 1, nil)
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		tb.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return tok.(*paho.SubscribeToken).Result()[filter]
}

// publish sends at qos and, for qos 1, waits for the PUBACK: once it is
// back, the broker has dealt with every earlier message of this client.
func publish(tb testing.TB, c *client, topic string, qos byte, payload string) {
	tb.Helper()
	tok := c.Publish(topic, qos, false, payload)
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		tb.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// nextMessage returns the next message c receives.
func nextMessage(tb testing.TB, c *client) paho.Message {
	tb.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(wait):
		tb.Fatalf("%s received nothing", clientID(c))
		return nil
	}
}

// echo proves nothing reached c before now: c publishes to a topic of its
// own it subscribed to, and that message must be the next one it receives
// (the broker delivers to a client in order).
func echo(tb testing.TB, c *client, own string) {
	tb.Helper()
	publish(tb, c, own, 1, "echo")
	if m := nextMessage(tb, c); m.Topic() != own || string(m.Payload()) != "echo" {
		tb.Fatalf("%s received %s %q, a message it must not get", clientID(c), m.Topic(), m.Payload())
	}
}

func TestPolicyIsolatesDevices(t *testing.T) {
	e := newEnv(t, withPolicy(compilePolicy(t)))
	certA, serialA := e.issue(t, "dev-a")
	certB, _ := e.issue(t, "dev-b")
	a := e.mustConnect(t, broker.TransportMQTTS, &certA, "dev-a")
	b := e.mustConnect(t, broker.TransportMQTTS, &certB, "dev-b")
	ownA, ownB := "kp1/demo-v1/dcx/dev-a/json", "kp1/demo-v1/dcx/dev-b/json"

	for name, tc := range map[string]struct {
		c      *client
		filter string
		want   byte
	}{
		"ok/own kaa subtree":          {b, "kp1/demo-v1/dcx/dev-b/#", 1},
		"ok/own kaa wildcard layout":  {a, "kp1/+/+/dev-a/#", 1},
		"ok/own devices subtree":      {a, "devices/dev-a/#", 1},
		"fail/other device's subtree": {a, "kp1/demo-v1/dcx/dev-b/#", 0x80},
		"fail/everything":             {a, "#", 0x80},
		"fail/all kaa topics":         {a, "kp1/#", 0x80},
		"fail/broker internals":       {a, "$SYS/#", 0x80},
	} {
		t.Run(name, func(t *testing.T) {
			if got := subscribe(t, tc.c, tc.filter); got != tc.want {
				t.Fatalf("SUBACK for %s = %#x, want %#x", tc.filter, got, tc.want)
			}
		})
	}

	// a writes into b's topic (QoS 0: dropped) and its own.
	publish(t, a, ownB, 0, "forged")
	publish(t, a, "devices/dev-b/cmd", 0, "forged")
	publish(t, a, ownA, 1, "mine")
	if m := nextMessage(t, a); m.Topic() != ownA {
		t.Fatalf("a received %s", m.Topic())
	}
	echo(t, b, ownB)
	echo(t, a, ownA)

	got := e.ev.wait(t, 6, broker.EventDenied, "", serialA)
	want := map[string]bool{
		"subscribe kp1/demo-v1/dcx/dev-b/# default": true, "subscribe # default": true,
		"subscribe kp1/# default": true, "subscribe $SYS/# default": true,
		"publish " + ownB + " default": true, "publish devices/dev-b/cmd default": true,
	}
	for _, ev := range got {
		key := ev.Action + " " + ev.Topic + " " + ev.Rule
		if !want[key] || ev.ClientID != "dev-a" || ev.CN != "dev-a" || ev.Reason == "" {
			t.Errorf("unexpected denied event %+v", ev)
		}
		delete(want, key)
	}
	if len(want) > 0 {
		t.Errorf("no denied event for %v", want)
	}
	if n := e.b.Denials(serialA); n != 6 {
		t.Errorf("Denials(a) = %d, want 6", n)
	}

	// MQTT 3.1.1 has no negative PUBACK: a refused QoS 1 publish closes the
	// connection.
	a.Publish(ownB, 1, false, "forged")
	waitLost(t, a)
	if !b.IsConnectionOpen() {
		t.Fatal("b lost its connection")
	}
}

func TestPolicyChangeAppliesToLiveSubscriber(t *testing.T) {
	reader := policy.Rule{ID: "backend", Effect: policy.Allow, Action: policy.ActionSubscribe, Topic: "kp1/#", Who: "cn:backend-*"}
	open, closed := compilePolicy(t, reader), compilePolicy(t)
	e := newEnv(t, withPolicy(open))
	certDev, _ := e.issue(t, "dev-a")
	certBack, _ := e.issue(t, "backend-eu")
	dev := e.mustConnect(t, broker.TransportMQTTS, &certDev, "dev-a")
	back := e.mustConnect(t, broker.TransportMQTTS, &certBack, "backend-eu")
	own := "devices/backend-eu/echo"
	for _, f := range []string{"kp1/#", "devices/backend-eu/#"} {
		if got := subscribe(t, back, f); got != 1 {
			t.Fatalf("backend SUBACK %s = %#x", f, got)
		}
	}
	telemetry := "kp1/demo-v1/dcx/dev-a/json"

	publish(t, dev, telemetry, 1, "1")
	if m := nextMessage(t, back); string(m.Payload()) != "1" {
		t.Fatalf("backend got %q", m.Payload())
	}

	e.b.SetPolicy(closed)
	publish(t, dev, telemetry, 1, "2") // acknowledged: delivery was decided
	echo(t, back, own)
	if !back.IsConnectionOpen() {
		t.Fatal("a policy change must not drop the subscriber")
	}

	e.b.SetPolicy(open)
	publish(t, dev, telemetry, 1, "3")
	if m := nextMessage(t, back); string(m.Payload()) != "3" {
		t.Fatalf("after re-allowing, backend got %q", m.Payload())
	}
}

func TestPolicySelectorsOnLiveSessions(t *testing.T) {
	e := newEnv(t, nil)
	iss := pkitest.Issue(t, e.a, "dev-a")
	cert := pkitest.ClientTLS(t, iss)
	e.b.SetPolicy(compilePolicy(t,
		policy.Rule{ID: "ca", Effect: policy.Allow, Action: policy.ActionPublish, Topic: "by-ca/${serial}", Who: "ca:" + iss.Cert.Issuer},
		policy.Rule{ID: "anon", Effect: policy.Allow, Action: policy.ActionPubSub, Topic: "public/#", Who: policy.WhoAnonymous},
	).WithIssuers(policy.Issuers{iss.Cert.Issuer: {iss.Cert.ID[strings.Index(iss.Cert.ID, "/")+1:]}}))
	dev := e.mustConnect(t, broker.TransportMQTTS, &cert, "dev-a")
	anon := e.mustConnect(t, broker.TransportMQTT, nil, "anon")
	if got := subscribe(t, anon, "public/#"); got != 1 {
		t.Fatalf("anonymous SUBACK public/# = %#x", got)
	}
	if got := subscribe(t, anon, "kp1/#"); got != 0x80 {
		t.Fatalf("anonymous SUBACK kp1/# = %#x", got)
	}
	if got := subscribe(t, dev, "public/#"); got != 0x80 {
		t.Fatalf("the anonymous selector matched a certified device: %#x", got)
	}
	publish(t, dev, "by-ca/"+iss.Cert.Serial, 1, "ok") // disconnects on refusal
	publish(t, anon, "public/x", 1, "hi")
	if m := nextMessage(t, anon); m.Topic() != "public/x" {
		t.Fatalf("anon got %s", m.Topic())
	}
	if !dev.IsConnectionOpen() {
		t.Fatal("the ca: rule did not allow the device's publish")
	}
	if n := e.b.Denials(""); n != 1 {
		t.Fatalf("anonymous denials = %d, want 1", n)
	}
}

func TestDeniedEventsAreRateLimited(t *testing.T) {
	e := newEnv(t, withPolicy(compilePolicy(t)))
	cert, serial := e.issue(t, "dev-a")
	c := e.mustConnect(t, broker.TransportMQTTS, &cert, "dev-a")
	for i := range 30 {
		publish(t, c, fmt.Sprintf("other/%d", i), 0, "x")
	}
	publish(t, c, "devices/dev-a/x", 1, "sync")
	if n := e.b.Denials(serial); n != 30 {
		t.Fatalf("Denials = %d, want 30", n)
	}
	c.Disconnect(100)
	e.ev.wait(t, 1, broker.EventDisconnected, "", serial)
	got := e.ev.match(func(ev broker.Event) bool { return ev.Type == broker.EventDenied })
	if len(got) != 11 {
		t.Fatalf("%d denied events, want 10 and a summary: %+v", len(got), got)
	}
	if last := got[10]; !strings.HasPrefix(last.Reason, "20 more denials not shown") || last.Topic != "other/29" {
		t.Fatalf("summary = %+v", last)
	}
}

// TestPolicyReasonCodesV5 checks the reason codes on the wire with an MQTT 5
// client: PUBACK and PUBREC 0x87, SUBACK 0x87, and the session stays up.
func TestPolicyReasonCodesV5(t *testing.T) {
	e := newEnv(t, withPolicy(compilePolicy(t)))
	cert, _ := e.issue(t, "dev-a")
	conn, err := tls.Dial("tcp", e.addr[broker.TransportMQTTS], e.tlsConfig(&cert))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c := pahov5.NewClient(pahov5.ClientConfig{Conn: conn})
	if _, err := c.Connect(ctx, &pahov5.Connect{ClientID: "dev-a", CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(&pahov5.Disconnect{})
	for name, tc := range map[string]struct {
		topic string
		qos   byte
		want  byte
	}{
		"fail/qos1 other device": {"kp1/demo-v1/dcx/dev-b/json", 1, 0x87},
		"fail/qos2 other device": {"kp1/demo-v1/dcx/dev-b/json", 2, 0x87},
		"ok/qos1 own topic":      {"kp1/demo-v1/dcx/dev-a/json", 1, 0},
	} {
		t.Run(name, func(t *testing.T) {
			pr, _ := c.Publish(ctx, &pahov5.Publish{Topic: tc.topic, QoS: tc.qos, Payload: []byte("x")})
			if pr == nil || pr.ReasonCode != tc.want {
				t.Fatalf("publish reason = %+v, want %#x", pr, tc.want)
			}
		})
	}
	sa, _ := c.Subscribe(ctx, &pahov5.Subscribe{Subscriptions: []pahov5.SubscribeOptions{
		{Topic: "#", QoS: 1}, {Topic: "devices/dev-a/#", QoS: 1}, {Topic: "$SYS/#", QoS: 0}}})
	if sa == nil {
		t.Fatal("no SUBACK")
	}
	if got := fmt.Sprint(sa.Reasons); got != "[135 1 135]" {
		t.Fatalf("SUBACK reasons = %v, want [0x87 1 0x87]", got)
	}
}

// signWithSerial issues a client leaf for cn, with a new key, from the
// partner CA with the given serial, such as one of our own certificates'.
func signWithSerial(tb testing.TB, ca partnerCA, serial *big.Int, cn string) tls.Certificate {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return ca.signSerial(tb, key, serial, cn)
}

// The review's case: an operator-trusted partner CA whose subject CN is our
// issuing CA's issues a leaf with our device k1's serial. It gets neither
// k1's cert: rule nor our ca: rules; k1 gets them, and a rule stored in the
// old serial-only form still selects k1.
func TestPolicyPartnerCANamedLikeOursBorrowsNothing(t *testing.T) {
	e := newEnv(t, nil)
	k1Cert, k1ID := e.issue(t, "k1")
	serial, ourHash, _ := strings.Cut(k1ID, "/")
	partner := newPartnerCA(t, "Gatehouse Issuing CA")
	if _, err := e.a.Trust(partner.pem(), false, "test"); err != nil {
		t.Fatal(err)
	}
	copyCert := signWithSerial(t, partner, k1Cert.Leaf.SerialNumber, "copy")
	copyID := idOf(t, copyCert)
	_, partnerHash, _ := strings.Cut(copyID, "/")
	if !strings.HasPrefix(copyID, serial+"/") || partnerHash == ourHash {
		t.Fatalf("partner leaf ID %s, want serial %s under another issuer", copyID, serial)
	}
	rule := func(id, who string) policy.Rule {
		return policy.Rule{ID: id, Effect: policy.Allow, Action: policy.ActionSubscribe, Topic: id + "/#", Who: who}
	}
	// The names the app resolves (app.policyIssuers): our CA by its name and
	// CN, the partner only by what no CA of ours is called.
	e.b.SetPolicy(compilePolicy(t,
		rule("by-id", "cert:"+k1ID),
		rule("by-serial", "cert:"+serial),
		rule("by-ca", "ca:default"),
		rule("by-ca-cn", "ca:Gatehouse Issuing CA"),
		rule("by-partner", "ca:partner"),
		rule("by-none", "ca:nobody"),
	).WithIssuers(policy.Issuers{"default": {ourHash}, "Gatehouse Issuing CA": {ourHash}, "partner": {partnerHash}}))
	k1 := e.mustConnect(t, broker.TransportMQTTS, &k1Cert, "k1")
	cp := e.mustConnect(t, broker.TransportMQTTS, &copyCert, "copy")
	for name, tc := range map[string]struct {
		c      *client
		filter string
		want   byte
	}{
		"ok/k1 by id":                     {k1, "by-id/#", 1},
		"ok/k1 by old serial form":        {k1, "by-serial/#", 1},
		"ok/k1 by ca name":                {k1, "by-ca/#", 1},
		"ok/k1 by ca common name":         {k1, "by-ca-cn/#", 1},
		"fail/k1 by partner ca":           {k1, "by-partner/#", 0x80},
		"fail/copy by k1's id":            {cp, "by-id/#", 0x80},
		"fail/copy by our ca name":        {cp, "by-ca/#", 0x80},
		"fail/copy by our ca cn":          {cp, "by-ca-cn/#", 0x80},
		"ok/copy by its own ca":           {cp, "by-partner/#", 1},
		"fail/copy by k1's topics":        {cp, "devices/k1/#", 0x80},
		"ok/copy by its own topics":       {cp, "devices/copy/#", 1},
		"fail/unresolved ca matches none": {k1, "by-none/#", 0x80},
	} {
		t.Run(name, func(t *testing.T) {
			if got := subscribe(t, tc.c, tc.filter); got != tc.want {
				t.Fatalf("SUBACK for %s = %#x, want %#x", tc.filter, got, tc.want)
			}
		})
	}
}

// A will is checked again when the policy changes: denied while its client
// is connected, it is not sent when the client dies; the control, whose will
// is still allowed, leaves its.
func TestPolicyChangeClearsAForbiddenWill(t *testing.T) {
	watch := policy.Rule{ID: "watch", Effect: policy.Allow, Action: policy.ActionSubscribe, Topic: "will/#", Who: "cn:watcher"}
	wills := policy.Rule{ID: "wills", Effect: policy.Allow, Action: policy.ActionPublish, Topic: "will/${cn}", Who: policy.WhoAny}
	e := newEnv(t, withPolicy(compilePolicy(t, watch, wills)))
	watcherCert, _ := e.issue(t, "watcher")
	certA, idA := e.issue(t, "devA")
	certB, _ := e.issue(t, "devB")
	watcher := e.subscriber(t, &watcherCert, "watcher", "will/#")
	a := e.connectWithWill(t, &certA, "devA")
	b := e.connectWithWill(t, &certB, "devB")

	deny := policy.Rule{ID: "no-will", Effect: policy.Deny, Action: policy.ActionPublish, Topic: "will/devA", Who: "cn:devA"}
	e.b.SetPolicy(compilePolicy(t, watch, wills, deny))
	if ev := e.ev.wait(t, 1, broker.EventDenied, "", idA)[0]; ev.Topic != "will/devA" || ev.Rule != "no-will" {
		t.Fatalf("denied event %+v, want the will's", ev)
	}
	a.cut()
	b.cut()
	waitFor(t, func() bool { return len(e.b.Sessions()) == 1 }, wait, "devA's and devB's sessions to end")
	if got := received(watcher); len(got) != 1 || got[0] != "will/devB" {
		t.Fatalf("watcher got %v, want only will/devB", got)
	}
}
