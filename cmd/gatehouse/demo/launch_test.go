package demo_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/demo"
	"github.com/gatehouse/gatehouse/store"
)

// TestLaunchSwitchesClientAuthOn starts from a Gatehouse whose operator left
// client-cert auth off: the demo turns it on, so the no-cert device is
// refused, and audits that as the demo's doing.
func TestLaunchSwitchesClientAuthOn(t *testing.T) {
	a, _ := startApp(t)
	ctx := context.Background()
	for _, tr := range []string{broker.TransportMQTTS, broker.TransportWSS} {
		if _, err := a.SetClientAuth(ctx, tr, false); err != nil {
			t.Fatal(err)
		}
	}
	f, err := demo.Launch(app.WithActor(ctx, "demo"), a, demo.Config{Devices: 1, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("launch: %v", err)
	}
	defer f.Stop()
	transports, err := a.Transports(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range transports {
		if tr.TLS && !tr.ClientAuth {
			t.Fatalf("client-cert auth still off on %s", tr.Name)
		}
	}
	waitFor(t, "device-1 is in and no-cert-device refused", func() bool {
		_, live := sessions(t, a)["device-1"]
		return live && statusOf(t, f, demo.NoCertDevice).Attempts > 0 && statusOf(t, f, demo.NoCertDevice).LastError != ""
	})
	if _, live := sessions(t, a)[demo.NoCertDevice]; live {
		t.Fatal("the no-cert device got in")
	}
	recs, err := a.Audit(ctx, store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	on := 0
	for _, r := range recs {
		if r.Action == "mtls.on" && r.Actor == "demo" {
			on++
		}
	}
	if on != 2 {
		t.Fatalf("%d mtls.on records by demo, want 2: %+v", on, recs)
	}
}

func TestLaunchNeedsMQTTS(t *testing.T) {
	a, err := app.Open(app.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.StartBroker(app.BrokerConfig{WSS: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if _, err := demo.Launch(context.Background(), a, demo.Config{}); err == nil || !strings.Contains(err.Error(), "mqtts") {
		t.Fatalf("launch without mqtts: %v", err)
	}
}

func TestPreferAddr(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()
	tests := map[string]struct{ in, want string }{
		"ok/free port kept":         {freeAddr, freeAddr},
		"ok/busy port falls back":   {busy.Addr().String(), demo.FallbackAddr},
		"ok/disabled stays off":     {"", ""},
		"ok/bad address falls back": {"127.0.0.1:99999", demo.FallbackAddr},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := demo.PreferAddr(tc.in); got != tc.want {
				t.Fatalf("PreferAddr(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestDialAddr(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"ok/all interfaces": {":8883", "127.0.0.1:8883"},
		"ok/ipv4 any":       {"0.0.0.0:8883", "127.0.0.1:8883"},
		"ok/ipv6 any":       {"[::]:8883", "127.0.0.1:8883"},
		"ok/loopback kept":  {"127.0.0.1:40000", "127.0.0.1:40000"},
		"ok/ipv6 loopback":  {"[::1]:8883", "[::1]:8883"},
		"ok/host name kept": {"broker.local:8883", "broker.local:8883"},
		"fail/no port":      {"localhost", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := demo.DialAddr(tc.in)
			if (err != nil) != strings.HasPrefix(name, "fail/") || got != tc.want {
				t.Fatalf("DialAddr(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			if err == nil {
				if _, _, err := net.SplitHostPort(got); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
