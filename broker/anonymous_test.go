package broker_test

import (
	"net"
	"net/url"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/gatehouse/gatehouse/broker"
)

// connectFrom opens a paho session on plain mqtt from the local address
// host (127.0.0.0/8 is all loopback on Linux), clean or persistent.
func (e *env) connectFrom(tb testing.TB, host, id string, clean bool) (*client, bool, error) {
	tb.Helper()
	c := &client{lost: make(chan error, 1), msgs: make(chan paho.Message, 64)}
	opts := paho.NewClientOptions().
		AddBroker("tcp://" + e.addr[broker.TransportMQTT]).
		SetClientID(id).
		SetCleanSession(clean).
		SetAutoReconnect(false).
		SetConnectTimeout(wait).
		SetConnectionLostHandler(func(_ paho.Client, err error) { c.lost <- err }).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { c.msgs <- m }).
		SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(host)}, Timeout: wait}
			return d.Dial("tcp", u.Host)
		})
	c.Client = paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		return nil, false, tok.Error()
	}
	tb.Cleanup(func() { c.Disconnect(0) })
	return c, tok.(*paho.ConnectToken).SessionPresent(), nil
}

// Anonymous clients are principals of their own, bound to their remote IP:
// another host cannot take over an anonymous client's ID nor inherit its
// persistent session; the same host can, as a reconnecting device must.
func TestAnonymousClientIDsAreNotShared(t *testing.T) {
	e := newEnv(t, nil)
	first, _, err := e.connectFrom(t, "127.0.0.1", "sensor", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.connectFrom(t, "127.0.0.2", "sensor", true); err == nil {
		t.Fatal("an anonymous client on another host took over the client id")
	}
	e.ev.wait(t, 1, broker.EventRefused, broker.ReasonClientIDInUse, "")
	if !first.IsConnectionOpen() || len(e.b.Sessions()) != 1 {
		t.Fatalf("the first client's session did not survive: %v", sessionIDs(e.b))
	}
	cert, _ := e.issue(t, "certified")
	if _, err := e.connect(t, broker.TransportMQTTS, &cert, "sensor"); err == nil {
		t.Fatal("a certificate took over an anonymous client's id")
	}
	e.ev.wait(t, 2, broker.EventRefused, broker.ReasonClientIDInUse, "")

	// The same host reconnecting takes over its own session.
	if _, _, err := e.connectFrom(t, "127.0.0.1", "sensor", true); err != nil {
		t.Fatalf("reconnect from the same host: %v", err)
	}
	waitLost(t, first)
	e.ev.wait(t, 1, broker.EventDisconnected, broker.CauseTakenOver, "")

	// A persistent session is not inherited by another host.
	keeper, _, err := e.connectFrom(t, "127.0.0.1", "keeper", false)
	if err != nil {
		t.Fatal(err)
	}
	if tok := keeper.Subscribe("inbox/#", 1, nil); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	keeper.Disconnect(100)
	waitFor(t, func() bool { return len(e.b.Sessions()) == 1 }, wait, "keeper gone")
	if _, present, err := e.connectFrom(t, "127.0.0.2", "keeper", false); err != nil || present {
		t.Fatalf("another host resumed the persistent session: present %v, %v", present, err)
	}
}
