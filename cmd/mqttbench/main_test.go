package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
	"github.com/gatehouse/gatehouse/store"
)

// gatehouse is a real Gatehouse broker on 127.0.0.1:0 with a real PKI, and a
// directory of client certificates laid out as `gatehouse cert create` does.
type gatehouse struct {
	a    *pki.Authority
	sc   pki.ServerCert
	b    *broker.Broker
	port int
	ca   string
	dir  string
	ids  map[string]string // cert-dir NAME -> certificate ID (store.CertID)

	mu        sync.Mutex
	connected int
}

func startGatehouse(t *testing.T, names ...string) *gatehouse {
	t.Helper()
	a, _ := pkitest.New(t)
	srv, err := a.IssueServer([]string{"localhost", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	g := &gatehouse{a: a, dir: t.TempDir(), ids: map[string]string{}}
	g.sc.Set(srv)
	g.b, g.port = g.listen(t, func(ev broker.Event) {
		if ev.Type == "connected" {
			g.mu.Lock()
			g.connected++
			g.mu.Unlock()
		}
	})
	for _, n := range names {
		iss := pkitest.Issue(t, a, n)
		if _, err := pki.WriteClientFiles(filepath.Join(g.dir, n), iss, false); err != nil {
			t.Fatal(err)
		}
		g.ids[n] = iss.Cert.ID
	}
	g.ca = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(g.ca, a.RootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return g
}

// listen starts a broker on this PKI on 127.0.0.1:0 and returns it and its
// mqtts port; a second one stands for another node of a cluster.
func (g *gatehouse) listen(t *testing.T, emit func(broker.Event)) (*broker.Broker, int) {
	t.Helper()
	b, err := broker.New(broker.Config{
		MQTTSAddr:      "127.0.0.1:0",
		GetCertificate: g.sc.GetCertificate,
		Authorizer:     g.a,
		Emit:           emit,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	port := 0
	for _, ti := range b.Transports() {
		if ti.Name == broker.TransportMQTTS {
			_, p, _ := strings.Cut(ti.Addr, "127.0.0.1:")
			port, _ = strconv.Atoi(p)
		}
	}
	return b, port
}

func (g *gatehouse) connects() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.connected
}

// suspend does what `gatehouse cert suspend` does: the transition, then the drop.
func (g *gatehouse) suspend(t *testing.T, name string) {
	if _, err := g.a.Transition(g.ids[name], store.StateSuspended, "test", "bench", 0); err != nil {
		t.Error(err)
	}
	g.b.DropSerial(g.ids[name], "suspended by operator")
}

// target builds the generator's target for this broker from real flags.
func (g *gatehouse) target(t *testing.T, dir string) *target {
	t.Helper()
	f := targetFlags{host: "127.0.0.1", ports: []int{g.port}, ca: g.ca, dir: dir, keepalive: time.Minute, timeout: 10 * time.Second}
	tg, err := f.build()
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// cli runs mqttbench with args and returns its exit code, stdout and stderr.
func cli(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func (g *gatehouse) args(mode string, more ...string) []string {
	return append([]string{mode, "--port", strconv.Itoa(g.port), "--ca", g.ca, "--cert-dir", g.dir}, more...)
}

func TestConnectFullHandshakes(t *testing.T) {
	g := startGatehouse(t, "dev1", "dev2")
	r := runConnect(context.Background(), g.target(t, g.dir), connectOpts{workers: 2, count: 20, duration: time.Minute})
	if r.Connects != 20 || r.Errors.Total != 0 || r.StoppedBy != "count" {
		t.Fatalf("connects %d, errors %+v, stopped by %s; want 20, none, count", r.Connects, r.Errors, r.StoppedBy)
	}
	if r.Handshake.N != 20 || r.Connect.P50 < r.Handshake.P50 || r.Resumed != 0 {
		t.Fatalf("handshake %+v, connect %+v, resumed %d", r.Handshake, r.Connect, r.Resumed)
	}
	if n := g.connects(); n != 20 {
		t.Fatalf("broker saw %d connects, want 20", n)
	}
}

func TestConnectCountsRefusals(t *testing.T) {
	g := startGatehouse(t, "dev1")
	g.suspend(t, "dev1")
	r := runConnect(context.Background(), g.target(t, g.dir), connectOpts{workers: 1, count: 3, duration: time.Minute})
	if r.Connects != 0 || r.Errors.Total != 3 {
		t.Fatalf("connects %d, errors %+v; want 0 and 3", r.Connects, r.Errors)
	}
	code, _, stderr := cli(g.args("connect", "--count", "2")...)
	if code != exitError || !strings.Contains(stderr, "no connect succeeded") {
		t.Fatalf("exit %d, stderr %q; want 1 and no connect succeeded", code, stderr)
	}
}

func TestPubsub(t *testing.T) {
	tests := map[string]struct {
		args     pubsubOpts
		wantLost bool
	}{
		"qos0 paced":   {args: pubsubOpts{publishers: 2, subscribers: 2, rate: 2000, count: 200, topic: "bench"}},
		"qos1 unpaced": {args: pubsubOpts{publishers: 2, subscribers: 1, qos: 1, count: 200, topic: "bench", inflight: 8}},
		// dev1 subscribes to devices/dev1/#, dev2 publishes to devices/dev2/p0:
		// nothing arrives, and every message is counted lost.
		"loss counted": {args: pubsubOpts{publishers: 1, subscribers: 1, count: 50, topic: "devices/{cn}"}, wantLost: true},
	}
	g := startGatehouse(t, "dev1", "dev2")
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := tc.args
			o.size, o.duration = 64, time.Minute
			o.drain = 2 * time.Second
			if tc.wantLost {
				o.drain = 200 * time.Millisecond
			}
			r, err := runPubsub(context.Background(), g.target(t, g.dir), o)
			if err != nil {
				t.Fatal(err)
			}
			if r.Sent != o.count || r.Errors.Total != 0 || len(r.PerSub) != o.subscribers {
				t.Fatalf("sent %d, errors %+v, %d subscribers; want %d, none, %d", r.Sent, r.Errors, len(r.PerSub), o.count, o.subscribers)
			}
			want := 0
			if tc.wantLost {
				want = o.count * o.subscribers
			}
			if r.Lost != want || r.Received != o.count*o.subscribers-want {
				t.Fatalf("received %d, lost %d; want lost %d", r.Received, r.Lost, want)
			}
			if !tc.wantLost && (r.Latency.N != r.Received || r.Latency.P99 <= 0) {
				t.Fatalf("latency %+v for %d deliveries", r.Latency, r.Received)
			}
		})
	}
}

func TestPubsubPacedRate(t *testing.T) {
	g := startGatehouse(t, "dev1")
	o := pubsubOpts{publishers: 1, subscribers: 1, rate: 100, count: 30, size: 64, topic: "bench", duration: time.Minute, drain: time.Second}
	r, err := runPubsub(context.Background(), g.target(t, g.dir), o)
	if err != nil {
		t.Fatal(err)
	}
	// 30 messages at 100/s take 290 ms from the first to the last.
	if r.Elapsed < 0.28 || r.Lost != 0 {
		t.Fatalf("30 messages at 100/s took %.3fs with %d lost; want >= 0.28s, none", r.Elapsed, r.Lost)
	}
}

func TestIdleHoldsAndCountsDrops(t *testing.T) {
	g := startGatehouse(t, "dev1", "dev2")
	ready := filepath.Join(t.TempDir(), "ready")
	done := make(chan idleResult)
	go func() {
		r, err := runIdle(context.Background(), g.target(t, g.dir), idleOpts{conns: 20, workers: 4, duration: time.Second, readyFile: ready})
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(ready)
		if err == nil {
			if string(b) != "20\n" {
				t.Fatalf("ready file says %q, want 20", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no ready file")
		}
		time.Sleep(10 * time.Millisecond)
	}
	g.suspend(t, "dev2") // round-robin: 10 of the 20 sessions are dev2's
	r := <-done
	if r.Opened != 20 || r.Held != 10 || r.Dropped != 10 || r.Errors.Total != 0 {
		t.Fatalf("opened %d, held %d, dropped %d, errors %+v; want 20, 10, 10, none", r.Opened, r.Held, r.Dropped, r.Errors)
	}
}

func TestSuspend(t *testing.T) {
	g := startGatehouse(t, "dev1", "dev2", "dev3")
	o := suspendOpts{sessions: 5, others: 6, workers: 4, victim: 1, duration: 10 * time.Second, settle: 100 * time.Millisecond,
		triggerDesc: "suspend dev2", trigger: func(context.Context) error { g.suspend(t, "dev2"); return nil }}
	r, err := runSuspend(context.Background(), g.target(t, g.dir), o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Victim != "dev2" || r.Closed != 5 || r.OthersUp != 6 || r.ToLastEOF <= 0 || r.ToLastEOF < r.ToFirstEOF || r.EOF.N != 5 {
		t.Fatalf("%+v", r)
	}
}

// TestSuspendCommandTrigger runs --trigger as a command: it only touches a
// file, and the test suspends the certificate when it appears.
func TestSuspendCommandTrigger(t *testing.T) {
	g := startGatehouse(t, "dev1", "dev2")
	flag := filepath.Join(t.TempDir(), "triggered")
	go func() {
		for range 3000 {
			if _, err := os.Stat(flag); err == nil {
				g.suspend(t, "dev1")
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	code, out, stderr := cli(g.args("suspend", "--sessions", "3", "--others", "2", "--trigger", "touch "+flag, "--json")...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r suspendResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if r.Victim != "dev1" || r.Closed != 3 || r.OthersUp != 2 || r.From != "trigger start" || r.TriggerMS <= 0 {
		t.Fatalf("%+v", r)
	}
}

// TestSuspendSpreadOverPorts holds the victim's sessions on two brokers of
// one PKI, as on two nodes of a cluster (--port P1,P2): they alternate between
// the two, and the run ends when the last one on either has closed.
func TestSuspendSpreadOverPorts(t *testing.T) {
	g := startGatehouse(t, "dev1", "dev2")
	var second atomic.Int64
	b2, port2 := g.listen(t, func(ev broker.Event) {
		if ev.Type == "connected" {
			second.Add(1)
		}
	})
	flag := filepath.Join(t.TempDir(), "triggered")
	go func() {
		for range 3000 {
			if _, err := os.Stat(flag); err == nil {
				g.suspend(t, "dev1")
				b2.DropSerial(g.ids["dev1"], "suspended by operator")
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	ports := fmt.Sprintf("%d,%d", g.port, port2)
	code, out, stderr := cli("suspend", "--port", ports, "--ca", g.ca, "--cert-dir", g.dir,
		"--sessions", "6", "--others", "2", "--workers", "3", "--trigger", "touch "+flag, "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r suspendResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	wantTarget := fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d", g.port, port2)
	if r.Target != wantTarget || r.Closed != 6 || r.OthersUp != 2 || r.EOF.N != 6 {
		t.Fatalf("target %q, closed %d, others up %d, eof n %d; want %q, 6, 2, 6", r.Target, r.Closed, r.OthersUp, r.EOF.N, wantTarget)
	}
	if first, other := g.connects(), second.Load(); first != 4 || other != 4 {
		t.Fatalf("sessions per broker %d and %d, want 4 and 4", first, other)
	}
}

func TestSuspendFailsWhenNothingCloses(t *testing.T) {
	g := startGatehouse(t, "dev1", "dev2")
	code, out, stderr := cli(g.args("suspend", "--sessions", "2", "--others", "1", "--trigger", "true", "--duration", "300ms")...)
	if code != exitError || !strings.Contains(stderr, "only 0 of 2 victim sessions ended") || !strings.Contains(out, "0 of 2 sessions") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}

func TestCLIConnectJSON(t *testing.T) {
	g := startGatehouse(t, "dev1")
	code, out, stderr := cli(g.args("connect", "--count", "3", "--workers", "1", "--json")...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r connectResult
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Connects != 3 || r.Mode != "connect" {
		t.Fatalf("%v: %s", err, out)
	}
}

func TestUsageErrors(t *testing.T) {
	g := startGatehouse(t, "dev1")
	tests := map[string]struct {
		args []string
		want string
	}{
		"remote host":        {[]string{"connect", "--host", "192.0.2.1", "--ca", g.ca}, "not loopback"},
		"duration too long":  {g.args("connect", "--duration", "11m"), "--duration 11m0s"},
		"no ca":              {[]string{"connect", "--port", "1"}, "--ca FILE is required"},
		"port out of range":  {g.args("connect", "--port", "8883,70000"), "--port 70000"},
		"cert without key":   {[]string{"connect", "--ca", g.ca, "--cert", "x.crt"}, "--cert and --key go together"},
		"cert and cert-dir":  {g.args("connect", "--cert", "x.crt", "--key", "x.key"), "not both"},
		"empty cert-dir":     {[]string{"connect", "--ca", g.ca, "--cert-dir", t.TempDir()}, "has no NAME/client.crt"},
		"qos 2":              {g.args("pubsub", "--qos", "2"), "--qos 2"},
		"payload too small":  {g.args("pubsub", "--size", "8"), "--size 8"},
		"wildcard topic":     {g.args("pubsub", "--topic", "a/#"), "without wildcards"},
		"too many conns":     {g.args("idle", "--conns", "200000"), "--conns 200000"},
		"others need a cert": {g.args("suspend", "--others", "1"), "needs a second certificate"},
		"unknown victim":     {g.args("suspend", "--others", "0", "--victim", "nope"), "no such certificate"},
		"unknown mode":       {[]string{"flood"}, "unknown command"},
		"unknown flag":       {[]string{"connect", "--bogus"}, "unknown flag"},
		"unknown curve":      {g.args("connect", "--curves", "x25519,p521"), `unknown key exchange "p521"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := cli(tc.args...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 2 {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
}

func TestParseCurves(t *testing.T) {
	tests := map[string]struct {
		in   string
		want []tls.CurveID
	}{
		"go default":       {"", nil},
		"one":              {"x25519", []tls.CurveID{tls.X25519}},
		"order kept, case": {"P256, x25519MLKEM768", []tls.CurveID{tls.CurveP256, tls.X25519MLKEM768}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseCurves(tc.in)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("parseCurves(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestCheckLoopback(t *testing.T) {
	tests := map[string]struct {
		host   string
		remote bool
		ok     bool
	}{
		"ipv4 loopback":     {"127.0.0.1", false, true},
		"other loopback":    {"127.0.0.2", false, true},
		"ipv6 loopback":     {"::1", false, true},
		"localhost":         {"localhost", false, true},
		"remote refused":    {"192.0.2.1", false, false},
		"remote allowed":    {"192.0.2.1", true, true},
		"unspecified":       {"0.0.0.0", false, false},
		"empty even remote": {"", true, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if err := checkLoopback(tc.host, tc.remote); (err == nil) != tc.ok {
				t.Fatalf("checkLoopback(%q, %v) = %v, want ok %v", tc.host, tc.remote, err, tc.ok)
			}
		})
	}
}

// The in-process broker runs in the test's own process, so --broker-pid is
// os.Getpid(): the figures are real /proc readings of a process that did
// the handshakes.
func TestBrokerFigures(t *testing.T) {
	g := startGatehouse(t, "dev1")
	self := brokerProc{pid: os.Getpid()}
	r := runConnect(context.Background(), g.target(t, g.dir), connectOpts{workers: 2, count: 40, duration: time.Minute, proc: self})
	if r.Broker == nil || r.Broker.err() != nil || r.Broker.CPU <= 0 || r.Broker.CPUPerOp != r.Broker.CPU/40 {
		t.Fatalf("connect broker figures %+v", r.Broker)
	}
	ir, err := runIdle(context.Background(), g.target(t, g.dir), idleOpts{conns: 10, workers: 2, duration: 300 * time.Millisecond,
		settle: 100 * time.Millisecond, proc: self})
	if err != nil {
		t.Fatal(err)
	}
	if b := ir.Broker; b == nil || b.err() != nil || b.RSSBefore <= 0 || b.RSSHeld <= 0 ||
		b.KBPerConn != float64(b.RSSHeld-b.RSSBefore)/10 {
		t.Fatalf("idle broker figures %+v", ir.Broker)
	}
	code, _, stderr := cli(g.args("connect", "--broker-pid", "999999999")...)
	if code != exitUsage || !strings.Contains(stderr, "--broker-pid 999999999") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestParseStat(t *testing.T) {
	tests := map[string]struct {
		stat string
		want time.Duration
		ok   bool
	}{
		"plain":               {"42 (mosquitto) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1", 3 * time.Second, true},
		"spaces and brackets": {"42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1", 100 * time.Millisecond, true},
		"truncated":           {"42 (x) S 1 42", 0, false},
		"no command":          {"42 x S", 0, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := parseStat([]byte(tc.stat))
			if got != tc.want || ok != tc.ok {
				t.Fatalf("parseStat = %s, %v; want %s, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
