package main

import (
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/internal/etcdtest"
	"github.com/gatehouse/gatehouse/store"
)

func TestClusterFlags(t *testing.T) {
	data := t.TempDir()
	tests := map[string]struct {
		args []string
		code int
		want string
	}{
		"fail/etcd without node":   {[]string{"--etcd", "http://127.0.0.1:2379"}, exitUsage, "--etcd needs --node NAME"},
		"fail/node with a slash":   {[]string{"--etcd", "http://127.0.0.1:2379", "--node", "a/b"}, exitUsage, "--etcd needs --node NAME"},
		"fail/node without etcd":   {[]string{"--node", "gh1"}, exitUsage, "need --etcd ENDPOINTS"},
		"fail/cert without key":    {[]string{"--etcd", "http://127.0.0.1:2379", "--node", "gh1", "--etcd-cert", "c.pem"}, exitUsage, "go together"},
		"fail/missing etcd CA":     {[]string{"--etcd", "https://127.0.0.1:2379", "--node", "gh1", "--etcd-ca", "/nonexistent/ca.pem"}, exitError, "read --etcd-ca"},
		"fail/TLS flags, http":     {[]string{"--etcd", "http://127.0.0.1:2379", "--node", "gh1", "--etcd-ca", "ca.pem"}, exitUsage, "need https:// endpoints"},
		"fail/mixed schemes":       {[]string{"--etcd", "https://10.0.0.5:2379,http://10.0.0.6:2379", "--node", "gh1"}, exitUsage, "--etcd mixes http://10.0.0.6:2379 and https://10.0.0.5:2379"},
		"fail/unknown scheme":      {[]string{"--etcd", "unix:///run/etcd.sock", "--node", "gh1"}, exitUsage, `--etcd "unix:///run/etcd.sock": want http:// or https:// URLs`},
		"fail/no scheme, TLS":      {[]string{"--etcd", "10.0.0.5:2379", "--node", "gh1", "--etcd-ca", "ca.pem"}, exitUsage, "need https:// endpoints"},
		"fail/scheme typo":         {[]string{"--etcd", "https:/10.0.0.5:2379", "--node", "gh1"}, exitUsage, `--etcd "https:/10.0.0.5:2379": want http:// or https:// URLs`},
		"fail/only commas":         {[]string{"--etcd", ",", "--node", "gh1"}, exitUsage, "no endpoint"},
		"fail/proxy-from alone":    {[]string{"--proxy-from", "10.0.0.0/8"}, exitUsage, "--proxy-from needs --proxy-protocol"},
		"fail/proxy from nowhere":  {[]string{"--proxy-protocol"}, exitUsage, "--proxy-protocol needs --proxy-from"},
		"fail/proxy from a name":   {[]string{"--proxy-protocol", "--proxy-from", "lb.example.com"}, exitUsage, `--proxy-from "lb.example.com": want a CIDR`},
		"fail/etcd is unreachable": {[]string{"--etcd", "http://127.0.0.1:1", "--node", "gh1"}, exitError, "etcd did not answer within 5s"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"serve", "--mqtts", "127.0.0.1:0", "--wss", ""}, tc.args...)
			out, errOut, code := gh(t, data, args...)
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			if last := lines[len(lines)-1]; code != tc.code || !strings.HasPrefix(last, "gatehouse: ") || !strings.Contains(last, tc.want) {
				t.Fatalf("exit %d, want %d; stderr %q, want an error line containing %q (stdout %q)", code, tc.code, errOut, tc.want, out)
			}
		})
	}
}

// doctor's --etcd goes without --file, and its TLS flags with it.
func TestDoctorEtcdFlags(t *testing.T) {
	data := t.TempDir()
	for name, tc := range map[string]struct {
		args []string
		code int
		want string
	}{
		"fail/file and etcd":   {[]string{"--etcd", "http://127.0.0.1:2379", "--file", "x.db"}, exitUsage, "--file and --etcd each name the store to check"},
		"fail/TLS flags alone": {[]string{"--etcd-ca", "ca.pem"}, exitUsage, "need --etcd ENDPOINTS"},
		"fail/TLS with http":   {[]string{"--etcd", "http://127.0.0.1:2379", "--etcd-cert", "c.pem", "--etcd-key", "k.pem"}, exitUsage, "need https:// endpoints"},
		"fail/unreachable":     {[]string{"--etcd", "http://127.0.0.1:1"}, exitError, "etcd did not answer within 5s"},
	} {
		t.Run(name, func(t *testing.T) {
			out, errOut, code := gh(t, data, append([]string{"doctor"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, want %d; stderr %q, want %q (stdout %q)", code, tc.code, errOut, tc.want, out)
			}
		})
	}
}

// On a single appliance cluster status says the store is a file and exits
// 0, with or without a daemon serving the data directory.
func TestClusterStatusStandalone(t *testing.T) {
	tests := map[string]struct{ daemon bool }{
		"store file": {false},
		"daemon":     {true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			data := initData(t)
			if tc.daemon {
				startTestDaemon(t, data, "test")
			}
			want := "standalone (bbolt store " + filepath.Join(data, "gatehouse.db") + ")\n"
			if out := mustGH(t, data, "cluster", "status"); out != want {
				t.Fatalf("cluster status printed %q, want %q", out, want)
			}
			var st app.ClusterStatus
			if err := json.Unmarshal([]byte(mustGH(t, data, "cluster", "status", "--json")), &st); err != nil || !st.Standalone {
				t.Fatalf("cluster status --json: %+v, %v", st, err)
			}
		})
	}
}

// --proxy-from takes networks and single addresses, comma-separated.
func TestProxyFromParses(t *testing.T) {
	tests := map[string]struct {
		from string
		want []string
	}{
		"one network":           {"10.0.0.0/24", []string{"10.0.0.0/24"}},
		"address and network":   {"10.0.0.5, 192.168.0.0/16", []string{"10.0.0.5/32", "192.168.0.0/16"}},
		"host bits are masked":  {"10.1.2.3/8", []string{"10.0.0.0/8"}},
		"an IPv6 load balancer": {"fd00::7", []string{"fd00::7/128"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := (&clusterFlags{proxyProtocol: true, proxyFrom: tc.from}).proxy()
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, p := range got {
				s = append(s, p.String())
			}
			if strings.Join(s, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("proxy() = %v, want %v", s, tc.want)
			}
		})
	}
}

// On a cluster node cluster status lists the node and the etcd endpoint.
func TestClusterStatusOnANode(t *testing.T) {
	srv, err := etcdtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	data := t.TempDir()
	bf := brokerFlags{cfg: app.BrokerConfig{MQTTS: "127.0.0.1:0"}, node: "gh1",
		etcd: &store.EtcdConfig{Endpoints: srv.Endpoints(), Prefix: "/gatehouse"}}
	d, err := (&globals{}).startDaemon(data, bf, slog.New(slog.DiscardHandler), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	out := mustGH(t, data, "cluster", "status")
	for _, want := range []string{"cluster: node gh1, etcd reachable (rev ", "NODE", "LAG", "gh1", "mqtts=127.0.0.1:",
		"ETCD ENDPOINT", srv.Endpoints()[0], "healthy", "leader"} {
		if !strings.Contains(out, want) {
			t.Fatalf("cluster status lacks %q:\n%s", want, out)
		}
	}
}
