package broker_test

import (
	"context"
	"crypto/tls"
	"fmt"
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
	))
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
