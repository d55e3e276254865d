package demo_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/url"
	"runtime"
	"slices"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

// wait bounds every poll; generous because -race slows handshakes.
const wait = 15 * time.Second

// startApp opens a real App in a temporary data dir with its broker on
// loopback ports and returns it with the dialable mqtts address.
func startApp(t *testing.T) (*app.App, string) {
	t.Helper()
	a, err := app.Open(app.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("open app: %v", err)
	}
	if err := a.StartBroker(app.BrokerConfig{MQTTS: "127.0.0.1:0", WSS: "127.0.0.1:0"}); err != nil {
		a.Close()
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	transports, err := a.Transports(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range transports {
		if tr.Name == broker.TransportMQTTS {
			if !tr.ClientAuth {
				t.Fatal("client-cert auth is off on mqtts by default")
			}
			return a, tr.Addr
		}
	}
	t.Fatal("no mqtts transport")
	return nil, ""
}

// testLogger sends the fleet's logs to the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitFor polls cond until it holds or wait passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sessions returns the live sessions by client ID.
func sessions(t *testing.T, a *app.App) map[string]broker.Session {
	t.Helper()
	list, err := a.Sessions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]broker.Session{}
	for _, s := range list {
		out[s.ClientID] = s
	}
	return out
}

// events returns the recent events that match.
func events(t *testing.T, a *app.App, match func(broker.Event) bool) []broker.Event {
	t.Helper()
	all, err := a.RecentEvents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(all, func(e broker.Event) bool { return !match(e) })
}

// watch connects an operator's own client, with a certificate of its own,
// subscribed to every demo device's telemetry.
func watch(t *testing.T, a *app.App, addr string) <-chan paho.Message {
	t.Helper()
	ctx := context.Background()
	b, err := a.IssueClient(ctx, app.IssueRequest{CN: "watcher"})
	if err != nil {
		t.Fatal(err)
	}
	// A backend reading every device's telemetry needs its own rule.
	if _, err := a.AddRule(ctx, store.Rule{Effect: "allow", Action: "subscribe", Topic: "kp1/#", Who: "cn:watcher"}); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair([]byte(b.ChainPEM), []byte(b.KeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(b.CAPEM))
	msgs := make(chan paho.Message, 256)
	c := paho.NewClient(paho.NewClientOptions().
		AddBroker((&url.URL{Scheme: "tls", Host: addr}).String()).
		SetClientID("watcher").
		SetTLSConfig(&tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{cert}}).
		SetAutoReconnect(false).
		SetProtocolVersion(4).
		SetOrderMatters(false).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			select {
			case msgs <- m:
			default:
			}
		}))
	if tok := c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("watcher connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	if tok := c.Subscribe("kp1/+/dcx/+/json", 0, nil); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("watcher subscribe: %v", tok.Error())
	}
	return msgs
}

// settleGoroutines waits until no more goroutines run than baseline.
func settleGoroutines(t *testing.T, baseline int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines still run, %d before the fleet started:\n%s",
				runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
