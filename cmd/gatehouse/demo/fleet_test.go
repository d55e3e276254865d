package demo_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/demo"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// newFleet prepares a fleet of n telemetry devices against a's broker, with
// short backoffs so the test does not wait for the presenter's pace.
func newFleet(t *testing.T, a *app.App, addr string, n int) *demo.Fleet {
	t.Helper()
	ctx := context.Background()
	root, err := a.RootPEM(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, err := demo.New(ctx, demo.Config{
		Issuer:     a,
		Addr:       addr,
		RootPEM:    root,
		Devices:    n,
		KeyDir:     filepath.Join(t.TempDir(), "devices"),
		MinBackoff: 100 * time.Millisecond,
		MaxBackoff: time.Second,
		Logger:     testLogger(t),
	})
	if err != nil {
		t.Fatalf("new fleet: %v", err)
	}
	return f
}

// statusOf returns one device's status.
func statusOf(t *testing.T, f *demo.Fleet, name string) demo.Status {
	t.Helper()
	for _, s := range f.Status() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no device %s", name)
	return demo.Status{}
}

func TestFleetAgainstRealBroker(t *testing.T) {
	a, addr := startApp(t)
	ctx := context.Background()
	f := newFleet(t, a, addr, 3)
	baseline := runtime.NumGoroutine()
	if err := f.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	if err := f.Start(ctx); err == nil {
		t.Fatal("a second Start succeeded")
	}
	devices := []string{"device-1", "device-2", "device-3"}

	waitFor(t, "3 devices are connected and publishing", func() bool {
		live := sessions(t, a)
		for _, name := range devices {
			if s, ok := live[name]; !ok || s.MsgsIn < 3 || s.CN != name || s.Serial == "" {
				return false
			}
		}
		return true
	})
	for _, name := range devices {
		if s := statusOf(t, f, name); !s.Connected || s.Connects != 1 || s.Serial == "" {
			t.Fatalf("status of %s: %+v", name, s)
		}
	}

	t.Run("telemetry is Kaa JSON on the Kaa topic", func(t *testing.T) {
		msgs := watch(t, a, addr)
		tel := app.NewTelemetry(0, 0)
		seen := map[string]bool{}
		for len(seen) < len(devices) {
			select {
			case m := <-msgs:
				var samples []map[string]float64
				if err := json.Unmarshal(m.Payload(), &samples); err != nil || len(samples) != 1 {
					t.Fatalf("payload %s on %s: %v", m.Payload(), m.Topic(), err)
				}
				s := samples[0]
				if s["timestamp"] < 1e12 || s["temperature"] < 18 || s["temperature"] > 24 || s["humidity"] < 35 || s["humidity"] > 55 {
					t.Fatalf("sample out of range: %v", s)
				}
				parts := strings.Split(m.Topic(), "/")
				if len(parts) != 5 || parts[0] != "kp1" || parts[1] != demo.DefaultAppVersion || parts[2] != "dcx" || parts[4] != "json" {
					t.Fatalf("topic %q is not kp1/demo-v1/dcx/<endpoint>/json", m.Topic())
				}
				seen[parts[3]] = true
				tel.Record(parts[3], m.Topic(), m.Payload(), time.Now())
			case <-time.After(wait):
				t.Fatalf("telemetry from %v only", seen)
			}
		}
		for _, s := range tel.Snapshot() {
			if len(s.Fields["temperature"]) == 0 || len(s.Fields["humidity"]) == 0 || len(s.Fields) != 2 {
				t.Fatalf("telemetry of %s parsed to %v", s.ClientID, s.Fields)
			}
		}
	})

	t.Run("the no-cert and foreign devices are always refused", func(t *testing.T) {
		waitFor(t, "both have retried and been refused", func() bool {
			noCert := events(t, a, func(e broker.Event) bool {
				return e.Type == broker.EventRefused && e.Reason == pki.ReasonNoCert
			})
			foreign := events(t, a, func(e broker.Event) bool {
				return e.Type == broker.EventRefused && e.CN == demo.ForeignDevice
			})
			return len(noCert) >= 2 && len(foreign) >= 2 &&
				statusOf(t, f, demo.NoCertDevice).Attempts >= 2 && statusOf(t, f, demo.ForeignDevice).Attempts >= 2
		})
		for _, e := range events(t, a, func(e broker.Event) bool { return e.CN == demo.ForeignDevice }) {
			if e.Type != broker.EventRefused || e.Reason != pki.ReasonUnknownCA {
				t.Fatalf("foreign device event %+v, want only refusals for %q", e, pki.ReasonUnknownCA)
			}
		}
	})

	t.Run("suspend drops the device, its retries are refused, reactivate lets it back", func(t *testing.T) {
		serial := statusOf(t, f, "device-2").Serial
		since := time.Now()
		res, err := a.Transition(ctx, serial, store.StateSuspended, "demo test")
		if err != nil || res.Dropped != 1 {
			t.Fatalf("suspend: dropped %d, %v", res.Dropped, err)
		}
		waitFor(t, "device-2 is refused as suspended twice", func() bool {
			refused := events(t, a, func(e broker.Event) bool {
				return e.Type == broker.EventRefused && e.Serial == serial && !e.At.Before(since)
			})
			for _, e := range refused {
				if e.Reason != pki.ReasonSuspended {
					t.Fatalf("suspended device refused with %q", e.Reason)
				}
			}
			return len(refused) >= 2
		})
		if _, live := sessions(t, a)["device-2"]; live {
			t.Fatal("device-2 still holds a session")
		}
		if s := statusOf(t, f, "device-2"); s.Connected || s.LastError == "" {
			t.Fatalf("status of suspended device-2: %+v", s)
		}
		for _, name := range []string{"device-1", "device-3"} {
			if _, live := sessions(t, a)[name]; !live {
				t.Fatalf("%s was dropped with device-2", name)
			}
		}

		if _, err := a.Transition(ctx, serial, store.StateActive, "demo test"); err != nil {
			t.Fatalf("reactivate: %v", err)
		}
		back := time.Now()
		waitFor(t, "device-2 reconnects", func() bool {
			_, live := sessions(t, a)["device-2"]
			return live && statusOf(t, f, "device-2").Connects == 2
		})
		// MaxBackoff is 1s here: a reconnect any later means the backoff
		// did not reset or the retry loop stalled.
		if took := time.Since(back); took > 3*time.Second {
			t.Fatalf("device-2 took %v to come back", took)
		}
	})

	for _, name := range []string{demo.NoCertDevice, demo.ForeignDevice} {
		if s := statusOf(t, f, name); s.Connects != 0 || s.Connected || s.LastError == "" {
			t.Fatalf("%s got in: %+v", name, s)
		}
	}
	f.Stop()
	f.Stop()
	for _, s := range f.Status() {
		if s.Connected {
			t.Fatalf("%s still connected after Stop", s.Name)
		}
	}
	settleGoroutines(t, baseline)
}

// TestFleetReusesDeviceFiles reruns the demo over the same data: the devices
// keep their certificates instead of piling up new ones.
func TestFleetReusesDeviceFiles(t *testing.T) {
	a, addr := startApp(t)
	ctx := context.Background()
	root, err := a.RootPEM(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := demo.Config{Issuer: a, Addr: addr, RootPEM: root, Devices: 2, KeyDir: filepath.Join(t.TempDir(), "devices")}
	serials := func() []string {
		f, err := demo.New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range f.Status() {
			out = append(out, s.Serial)
		}
		return out
	}
	first, second := serials(), serials()
	if first[0] != second[0] || first[1] != second[1] || first[0] == "" {
		t.Fatalf("serials %v then %v, want the same device certificates", first, second)
	}
	if first[3] == second[3] {
		t.Fatal("the foreign device's certificate was reused; it is made fresh each run")
	}
	certs, err := a.ListCerts(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 2 {
		t.Fatalf("%d certificates issued, want 2", len(certs))
	}
	for _, name := range []string{pki.CAFile, pki.CertFile, pki.KeyFile} {
		if _, err := os.Stat(filepath.Join(cfg.KeyDir, "device-1", name)); err != nil {
			t.Fatalf("device files: %v", err)
		}
	}
}

func TestNewRejectsIncompleteConfig(t *testing.T) {
	tests := map[string]demo.Config{
		"fail/no issuer": {Addr: "127.0.0.1:1", RootPEM: []byte("x")},
	}
	a, addr := startApp(t)
	tests["fail/no address"] = demo.Config{Issuer: a, RootPEM: []byte("x")}
	tests["fail/bad root"] = demo.Config{Issuer: a, Addr: addr, RootPEM: []byte("not a certificate")}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := demo.New(context.Background(), cfg); err == nil {
				t.Fatal("New accepted an incomplete configuration")
			}
		})
	}
}
