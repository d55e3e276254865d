package broker_test

import (
	"crypto/tls"
	"net"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// quiet is how long a test waits to be sure a message does not arrive.
const quiet = 500 * time.Millisecond

// willClient is a paho session on mqtts with a retained QoS 1 will on
// will/<id>; cut closes its socket without DISCONNECT, as a crash would.
type willClient struct {
	*client
	mu   sync.Mutex
	conn net.Conn
}

func (w *willClient) cut() {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.conn.Close()
}

func (e *env) connectWithWill(tb testing.TB, cert *tls.Certificate, id string) *willClient {
	tb.Helper()
	w := &willClient{client: &client{lost: make(chan error, 1), msgs: make(chan paho.Message, 64)}}
	opts := paho.NewClientOptions().
		AddBroker("tls://"+e.addr[broker.TransportMQTTS]).
		SetClientID(id).
		SetWill("will/"+id, id+" is gone", 1, true).
		SetAutoReconnect(false).
		SetConnectTimeout(wait).
		SetConnectionLostHandler(func(_ paho.Client, err error) { w.lost <- err }).
		SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			c, err := tls.Dial("tcp", u.Host, e.tlsConfig(cert))
			w.mu.Lock()
			w.conn = c
			w.mu.Unlock()
			return c, err
		})
	w.Client = paho.NewClient(opts)
	if tok := w.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		tb.Fatalf("connect %s: %v", id, tok.Error())
	}
	tb.Cleanup(func() { w.Disconnect(0) })
	return w
}

// subscriber connects a fresh watcher subscribed to filter at QoS 1.
func (e *env) subscriber(tb testing.TB, cert *tls.Certificate, id, filter string) *client {
	tb.Helper()
	c := e.mustConnect(tb, broker.TransportMQTTS, cert, id)
	if tok := c.Subscribe(filter, 1, nil); !tok.WaitTimeout(wait) || tok.Error() != nil {
		tb.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return c
}

// received returns the topics c got within quiet.
func received(c *client) []string {
	var topics []string
	deadline := time.After(quiet)
	for {
		select {
		case m := <-c.msgs:
			topics = append(topics, m.Topic())
		case <-deadline:
			return topics
		}
	}
}

func publishRetained(tb testing.TB, c paho.Client, topic, payload string) {
	tb.Helper()
	if tok := c.Publish(topic, 1, true, payload); !tok.WaitTimeout(wait) || tok.Error() != nil {
		tb.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// A suspended device's will is never published, neither to live watchers
// nor as a retained message; a device that merely crashes still leaves its.
func TestSuspendedDeviceLeavesNoWill(t *testing.T) {
	e := newEnv(t, nil)
	watcherCert, _ := e.issue(t, "watcher")
	certA, serialA := e.issue(t, "devA")
	certB, _ := e.issue(t, "devB")
	watcher := e.subscriber(t, &watcherCert, "watcher", "will/#")
	a := e.connectWithWill(t, &certA, "devA")
	b := e.connectWithWill(t, &certB, "devB")

	e.transition(t, serialA, store.StateSuspended)
	if n := e.b.DropSerial(serialA, pki.ReasonSuspended); n != 1 {
		t.Fatalf("dropped %d sessions, want 1", n)
	}
	waitLost(t, a.client)
	b.cut() // the control: a crash publishes the will
	waitFor(t, func() bool { return len(e.b.Sessions()) == 1 }, wait, "devB's session to end")

	if got := received(watcher); len(got) != 1 || got[0] != "will/devB" {
		t.Fatalf("watcher got %v, want only will/devB", got)
	}
	late := e.subscriber(t, &watcherCert, "late-watcher", "will/#")
	if got := received(late); len(got) != 1 || got[0] != "will/devB" {
		t.Fatalf("a new subscriber got retained %v, want only will/devB", got)
	}
}

// Revoking with a purge removes the retained messages the certificate set,
// and only those: not another device's, not one that replaced its message.
func TestPurgeRetained(t *testing.T) {
	e := newEnv(t, nil)
	certA, serialA := e.issue(t, "devA")
	certB, _ := e.issue(t, "devB")
	a := e.mustConnect(t, broker.TransportMQTTS, &certA, "devA")
	b := e.mustConnect(t, broker.TransportMQTTS, &certB, "devB")
	publishRetained(t, a, "state/devA", "on")
	publishRetained(t, a, "state/devA/config", "x")
	publishRetained(t, a, "state/shared", "from A")
	publishRetained(t, b, "state/shared", "from B")
	publishRetained(t, b, "state/devB", "on")

	e.transition(t, serialA, store.StateRevoked)
	e.b.DropSerial(serialA, pki.ReasonRevoked)
	if n := e.b.PurgeRetained(serialA); n != 2 {
		t.Fatalf("purged %d retained messages, want 2", n)
	}
	if n := e.b.PurgeRetained(serialA); n != 0 {
		t.Fatalf("second purge removed %d", n)
	}
	watcher := e.subscriber(t, &certB, "watcher", "state/#")
	got := received(watcher)
	slices.Sort(got)
	if want := []string{"state/devB", "state/shared"}; !slices.Equal(got, want) {
		t.Fatalf("a new subscriber got %v, want %v", got, want)
	}
}

// Once the broker has decided to drop a session, nothing the client sends
// is processed, even while the DISCONNECT write waits out the grace period
// on a client that does not read.
func TestNothingIsProcessedAfterTheDrop(t *testing.T) {
	e := newEnv(t, nil)
	watcherCert, _ := e.issue(t, "watcher")
	cert, serial := e.issue(t, "stall")
	watcher := e.subscriber(t, &watcherCert, "watcher", "after/#")
	c, _ := stalledClient(t, e, cert)
	e.transition(t, serial, store.StateSuspended)
	done := make(chan int, 1)
	go func() { done <- e.b.DropSerial(serial, pki.ReasonSuspended) }()
	waitFor(t, func() bool { return e.b.SessionCount(serial) == 0 }, wait, "the drop decision")
	c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write(publishPacket("after/drop", []byte("must not arrive")))
	<-done
	if got := received(watcher); len(got) != 0 {
		t.Fatalf("the watcher got %v from a dropped session", got)
	}
}
