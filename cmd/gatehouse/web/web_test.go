package web_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/web"
	"github.com/gatehouse/gatehouse/store"
)

// serve starts an App with its broker and the HTTP server on loopback.
func serve(t *testing.T) (*app.App, string, string) {
	t.Helper()
	a, err := app.Open(app.Config{DataDir: t.TempDir(), Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if err := a.StartBroker(app.BrokerConfig{MQTTS: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	srv, err := web.Listen("127.0.0.1:0", web.Config{Metrics: a.Metrics().Registry(), Ready: a.Ready})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() { srv.Close() })
	ts, _ := a.Transports(context.Background())
	return a, ts[0].Addr, "http://" + srv.Addr()
}

// scrape fetches /metrics and parses it as Prometheus does.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value returns the value of the series of name whose labels include want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestMetricsFollowTheBroker(t *testing.T) {
	a, mqtts, base := serve(t)
	ctx := context.Background()

	// A refusal: no client certificate while client-cert auth is on.
	if c, err := tls.Dial("tcp", mqtts, &tls.Config{InsecureSkipVerify: true}); err == nil {
		_, _ = c.Read(make([]byte, 1))
		c.Close()
	}
	// A device connects, publishes, and is suspended.
	b, err := a.IssueClient(ctx, app.IssueRequest{CN: "sensor-1"})
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := tls.X509KeyPair([]byte(b.ChainPEM), []byte(b.KeyPEM))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(b.CAPEM))
	c := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + mqtts).SetClientID("sensor-1").SetAutoReconnect(false).
		SetTLSConfig(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	// The starter policy lets a device publish under devices/<its CN>/.
	if tok := c.Publish("devices/sensor-1/t", 1, false, "x"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	live := scrape(t, base)
	if v, _ := value(live, "gatehouse_sessions", map[string]string{"transport": "mqtts"}); v != 1 {
		t.Fatalf("sessions{mqtts} = %v while connected, want 1", v)
	}
	if _, err := a.Transition(ctx, b.Cert.Serial, store.StateSuspended, "lost"); err != nil {
		t.Fatal(err)
	}

	var fams map[string]*dto.MetricFamily
	deadline := time.Now().Add(5 * time.Second)
	for {
		fams = scrape(t, base)
		if v, _ := value(fams, "gatehouse_disconnects_total", map[string]string{"cause": "suspended by operator"}); v == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	tests := map[string]struct {
		name   string
		labels map[string]string
		check  func(float64) bool
	}{
		"refusal by reason":     {"gatehouse_refusals_total", map[string]string{"transport": "mqtts", "reason": "no client certificate"}, eq(1)},
		"connect by transport":  {"gatehouse_connects_total", map[string]string{"transport": "mqtts"}, eq(1)},
		"drop by cause":         {"gatehouse_disconnects_total", map[string]string{"cause": "suspended by operator"}, eq(1)},
		"events by type":        {"gatehouse_events_total", map[string]string{"type": "refused"}, eq(1)},
		"sessions after drop":   {"gatehouse_sessions", map[string]string{"transport": "mqtts"}, eq(0)},
		"messages in":           {"gatehouse_messages_received_total", nil, eq(1)},
		"bytes in":              {"gatehouse_bytes_received_total", nil, func(v float64) bool { return v > 0 }},
		"dropped for slow subs": {"gatehouse_messages_dropped_total", nil, eq(0)},
		"certs by state":        {"gatehouse_certificates", map[string]string{"state": "suspended"}, eq(1)},
		"handshakes observed":   {"gatehouse_tls_handshake_seconds", map[string]string{"transport": "mqtts", "result": "ok"}, eq(1)},
		"failed handshake":      {"gatehouse_tls_handshake_seconds", map[string]string{"transport": "mqtts", "result": "failed"}, eq(1)},
		"suspend to drop":       {"gatehouse_suspend_drop_seconds", nil, eq(1)},
		"store size":            {"gatehouse_store_size_bytes", nil, func(v float64) bool { return v > 0 }},
		"go collector":          {"go_goroutines", nil, func(v float64) bool { return v > 0 }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v, ok := value(fams, tc.name, tc.labels)
			if !ok || !tc.check(v) {
				t.Fatalf("%s%v = %v (present %v)", tc.name, tc.labels, v, ok)
			}
		})
	}
	if _, ok := value(fams, "gatehouse_certificate_nearest_expiry_seconds", nil); ok {
		t.Fatal("nearest expiry reported with no active certificate")
	}
}

func eq(want float64) func(float64) bool { return func(v float64) bool { return v == want } }

func TestNearestExpiry(t *testing.T) {
	a, _, base := serve(t)
	ctx := context.Background()
	for _, ttl := range []string{"48h", "10d"} {
		b, err := a.IssueClient(ctx, app.IssueRequest{CN: "d" + ttl, TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Transition(ctx, b.Cert.Serial, store.StateActive, ""); err != nil {
			t.Fatal(err)
		}
	}
	v, ok := value(scrape(t, base), "gatehouse_certificate_nearest_expiry_seconds", nil)
	if !ok || v > 48*3600 || v < 47*3600 {
		t.Fatalf("nearest expiry %v s (present %v), want about 48 h", v, ok)
	}
}

func TestProbes(t *testing.T) {
	a, _, base := serve(t)
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != want {
			t.Fatalf("%s: %s %q", path, resp.Status, body)
		}
	}
	// A closed store is not ready: /readyz says so, /healthz still answers.
	a.Close()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with a closed store: %s, want 503", resp.Status)
	}
}
