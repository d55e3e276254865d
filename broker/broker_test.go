package broker_test

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker"
)

func TestPublishSubscribe(t *testing.T) {
	var published atomic.Int64
	e := newEnv(t, func(c *broker.Config) {
		c.OnPublish = func(id, topic string, payload []byte, _ time.Time) {
			if strings.HasPrefix(id, "pub-") && topic == "t/"+strings.TrimPrefix(id, "pub-") && string(payload) == "hello" {
				published.Add(1)
			}
		}
	})
	cert, serial := e.issue(t, "sensor-1")
	for _, transport := range []string{broker.TransportMQTTS, broker.TransportWSS} {
		t.Run(transport, func(t *testing.T) {
			sub := e.mustConnect(t, transport, &cert, "sub-"+transport)
			pub := e.mustConnect(t, transport, &cert, "pub-"+transport)
			topic := "t/" + transport
			if tok := sub.Subscribe(topic, 0, nil); !tok.WaitTimeout(wait) || tok.Error() != nil {
				t.Fatalf("subscribe: %v", tok.Error())
			}
			if tok := pub.Publish(topic, 0, false, "hello"); !tok.WaitTimeout(wait) || tok.Error() != nil {
				t.Fatalf("publish: %v", tok.Error())
			}
			select {
			case m := <-sub.msgs:
				if string(m.Payload()) != "hello" || m.Topic() != topic {
					t.Fatalf("got %q on %q", m.Payload(), m.Topic())
				}
			case <-time.After(wait):
				t.Fatal("message not delivered")
			}
			waitFor(t, func() bool {
				var in, out bool
				for _, s := range e.b.Sessions() {
					in = in || (s.ClientID == "pub-"+transport && s.MsgsIn == 1 && s.BytesIn > 0)
					out = out || (s.ClientID == "sub-"+transport && s.MsgsOut == 1 && s.BytesOut > 0)
				}
				return in && out
			}, wait, "message counters on %v", e.b.Sessions())
			// The previous transport's clients disconnected at its cleanup;
			// the broker may still be ending those sessions.
			waitFor(t, func() bool { return len(e.b.Sessions()) == 2 }, wait, "the previous subtest's sessions to end: %v", e.b.Sessions())
			sessions := e.b.Sessions()
			if len(sessions) != 2 || e.b.SessionCount(serial) != 2 {
				t.Fatalf("want 2 sessions of %s, got %+v", serial, sessions)
			}
			for i, s := range sessions {
				if s.CertID != serial || !strings.HasPrefix(serial, s.Serial+"/") || s.CN != "sensor-1" || s.Transport != transport || s.LastActivity.IsZero() {
					t.Errorf("session %d: %+v", i, s)
				}
				if i > 0 && s.ConnectedAt.Before(sessions[i-1].ConnectedAt) {
					t.Errorf("sessions not sorted by ConnectedAt: %+v", sessions)
				}
			}
		})
	}
	e.ev.wait(t, 4, broker.EventConnected, "", serial)
	e.ev.wait(t, 4, broker.EventDisconnected, broker.CauseClientClosed, serial)
	if n := published.Load(); n != 2 {
		t.Fatalf("OnPublish saw %d publishes, want 2", n)
	}
}

func TestPlainMQTTSessionHasNoCertificate(t *testing.T) {
	e := newEnv(t, nil)
	e.mustConnect(t, broker.TransportMQTT, nil, "plain")
	s := e.b.Sessions()
	if len(s) != 1 || s[0].Serial != "" || s[0].CN != "" || s[0].Transport != broker.TransportMQTT {
		t.Fatalf("sessions: %+v", s)
	}
	if _, err := e.b.SetClientAuth(broker.TransportMQTT, true); err == nil {
		t.Fatal("SetClientAuth on plain mqtt: want error")
	}
	if _, err := e.b.SetClientAuth("bogus", true); err == nil {
		t.Fatal("SetClientAuth on unknown transport: want error")
	}
}

func TestTransports(t *testing.T) {
	e := newEnv(t, func(c *broker.Config) { c.ClientAuth = map[string]bool{broker.TransportWSS: false} })
	cert, _ := e.issue(t, "t")
	e.mustConnect(t, broker.TransportMQTTS, &cert, "one")
	got := e.b.Transports()
	want := []broker.TransportInfo{
		{Name: broker.TransportMQTTS, TLS: true, ClientAuth: true, AuthMode: broker.AuthCert, Connected: 1},
		{Name: broker.TransportWSS, TLS: true, ClientAuth: false, AuthMode: broker.AuthCert},
		{Name: broker.TransportMQTT},
	}
	if len(got) != len(want) {
		t.Fatalf("transports: %+v", got)
	}
	for i := range want {
		g := got[i]
		if strings.HasSuffix(g.Addr, ":0") || !strings.HasPrefix(g.Addr, "127.0.0.1:") {
			t.Errorf("%s: addr %q is not the bound address", g.Name, g.Addr)
		}
		g.Addr = ""
		if g != want[i] {
			t.Errorf("transport %d: got %+v, want %+v", i, g, want[i])
		}
	}
}

func TestStartAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	e := newEnv(t, nil)
	b, err := broker.New(broker.Config{
		MQTTSAddr:      "127.0.0.1:0",
		MQTTAddr:       ln.Addr().String(),
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, errors.New("unused") },
		Authorizer:     e.a,
	})
	if err != nil {
		t.Fatal(err)
	}
	err = b.Start()
	want := "listen mqtt " + ln.Addr().String() + ": address already in use"
	if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Start: got %v, want %q", err, want)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCloseDisconnectsEveryone(t *testing.T) {
	e := newEnv(t, nil)
	cert, serial := e.issue(t, "c")
	a := e.mustConnect(t, broker.TransportMQTTS, &cert, "a")
	w := e.mustConnect(t, broker.TransportWSS, &cert, "w")
	if err := e.b.Close(); err != nil {
		t.Fatal(err)
	}
	waitLost(t, a)
	waitLost(t, w)
	e.ev.wait(t, 2, broker.EventDisconnected, broker.CauseStopped, serial)
	if err := e.b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := net.Dial("tcp", e.addr[broker.TransportMQTTS]); err == nil {
		t.Fatal("mqtts still accepts after Close")
	}
}
