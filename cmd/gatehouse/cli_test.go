package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"time"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/admin"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

// gh runs the command line in-process against data dir and returns what it printed.
func gh(t *testing.T, data string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"--data", data}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

// mustGH runs a command that must succeed.
func mustGH(t *testing.T, data string, args ...string) string {
	t.Helper()
	out, errOut, code := gh(t, data, args...)
	if code != exitOK {
		t.Fatalf("gatehouse %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// initData returns a new data directory holding a store made by
// 'gatehouse init': no other command creates one.
func initData(t *testing.T) string {
	t.Helper()
	data := t.TempDir()
	mustGH(t, data, "init")
	return data
}

// startTestDaemon runs a daemon on loopback ports for data dir until the test ends.
func startTestDaemon(t *testing.T, data, actor string) *daemon {
	t.Helper()
	bf := brokerFlags{cfg: app.BrokerConfig{MQTTS: "127.0.0.1:0", WSS: "127.0.0.1:0"}}
	d, err := (&globals{}).startDaemon(data, bf, slog.New(slog.NewTextHandler(io.Discard, nil)), actor)
	if err != nil {
		t.Fatalf("start daemon: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestUsageErrorsExit2(t *testing.T) {
	data := initData(t)
	tests := map[string]struct {
		args []string
		want string
	}{
		"fail/unknown flag":        {[]string{"--bogus"}, "unknown flag"},
		"fail/unknown command":     {[]string{"frobnicate"}, "unknown command"},
		"fail/bad ttl":             {[]string{"cert", "create", "--cn", "d", "--ttl", "5x", "--out", filepath.Join(data, "x")}, `invalid TTL "5x"`},
		"fail/bad key type":        {[]string{"cert", "create", "--cn", "d", "--key", "dsa", "--out", filepath.Join(data, "y")}, "dsa"},
		"fail/bad state":           {[]string{"cert", "list", "--state", "sleeping"}, "unknown state"},
		"fail/show without serial": {[]string{"cert", "show"}, "needs one SERIAL"},
		"fail/suspend no serial":   {[]string{"cert", "suspend"}, "requires at least 1 arg"},
		"fail/bad transport":       {[]string{"mtls", "on", "--transport", "coap"}, "unknown transport"},
		"fail/sign without csr":    {[]string{"cert", "sign"}, "--csr FILE is required"},
		"fail/bare cert":           {[]string{"cert"}, "needs a subcommand"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out, errOut, code := gh(t, data, tc.args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, exitUsage, out, errOut)
			}
			if !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "--help") {
				t.Fatalf("stderr %q lacks %q or is not one line with a hint", errOut, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(data, "x")); err == nil {
		t.Fatal("a refused create wrote its output directory")
	}
}

// lifecycle runs the whole certificate lifecycle through the command line;
// the same steps must hold with and without a daemon.
func lifecycle(t *testing.T, data string) {
	out := t.TempDir()
	serial := strings.TrimSpace(mustGH(t, data, "cert", "create", "--cn", "dev1", "--ttl", "90d", "--out", filepath.Join(out, "dev1")))
	if len(serial) < 16 {
		t.Fatalf("cert create printed %q, want a serial", serial)
	}
	key, err := os.Stat(filepath.Join(out, "dev1", "client.key"))
	if err != nil || key.Mode().Perm() != 0o600 {
		t.Fatalf("client.key: %v, mode %v", err, key.Mode().Perm())
	}
	if _, errOut, code := gh(t, data, "cert", "create", "--cn", "dev1", "--out", filepath.Join(out, "dev1")); code != exitError || !strings.Contains(errOut, "--force") {
		t.Fatalf("overwrite: exit %d %q, want a refusal naming --force", code, errOut)
	}

	var list []map[string]any
	if err := json.Unmarshal([]byte(mustGH(t, data, "cert", "list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("cert list: %d entries, want 1 (the refused create must not issue)", len(list))
	}
	for _, field := range []string{"serial", "cn", "state", "not_before", "not_after", "fingerprint", "issuer", "sessions"} {
		if _, ok := list[0][field]; !ok {
			t.Errorf("cert list --json lacks %q", field)
		}
	}
	if list[0]["state"] != "inactive" || list[0]["serial"] != serial {
		t.Fatalf("cert list: %v", list[0])
	}

	show := mustGH(t, data, "cert", "show", serial[:8])
	if !strings.Contains(show, "dev1") || !strings.Contains(show, "cert.create") {
		t.Fatalf("cert show by prefix:\n%s", show)
	}
	steps := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"cert", "suspend", serial[:8], "--reason", "lost"}, exitOK, "suspended dev1 (" + serial + "), dropped 0 sessions"},
		{[]string{"cert", "reactivate", serial}, exitOK, "reactivated dev1"},
		{[]string{"cert", "revoke", serial}, exitOK, "revoked dev1"},
		{[]string{"cert", "reactivate", serial}, exitError, "revoked is final"},
		{[]string{"cert", "revoke", serial}, exitError, "revoked"},
		{[]string{"cert", "show", "ffffffffffff"}, exitError, "not found"},
	}
	for _, s := range steps {
		stdout, stderr, code := gh(t, data, s.args...)
		if code != s.code || !strings.Contains(stdout+stderr, s.want) {
			t.Fatalf("gatehouse %s: exit %d (want %d), output %q, want %q", strings.Join(s.args, " "), code, s.code, stdout+stderr, s.want)
		}
		if code != exitOK && strings.Count(stderr, "\n") != 1 {
			t.Fatalf("error output is not one line: %q", stderr)
		}
	}
	var audit []store.AuditRecord
	if err := json.Unmarshal([]byte(mustGH(t, data, "audit", "--serial", serial[:8], "--json")), &audit); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action)
		if a.Actor == "" || a.Actor == "unknown" {
			t.Errorf("audit record %s has no actor", a.Action)
		}
	}
	if got := strings.Join(actions, ","); got != "cert.revoke,cert.reactivate,cert.suspend,cert.create" {
		t.Fatalf("audit actions newest first: %s", got)
	}
}

func TestLifecycleWithoutDaemon(t *testing.T) {
	lifecycle(t, initData(t))
}

func TestLifecycleThroughDaemon(t *testing.T) {
	data := t.TempDir()
	startTestDaemon(t, data, "")
	if !admin.Alive(data) {
		t.Fatal("daemon socket does not answer")
	}
	lifecycle(t, data)
}

func TestAmbiguousPrefixListsCandidates(t *testing.T) {
	data := initData(t)
	st, err := store.Open(filepath.Join(data, app.DBFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, serial := range []string{"abcdef01", "abcdef02"} {
		c := store.Cert{ID: store.CertID(serial, []byte("issuer")), Serial: serial, CN: serial, State: store.StateInactive, NotAfter: time.Now().Add(time.Hour), Fingerprint: strings.Repeat(serial[6:], 32)}
		if err := st.CreateCert(c, store.AuditRecord{Action: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	_, errOut, code := gh(t, data, "cert", "suspend", "abcdef")
	if code != exitUsage || !strings.Contains(errOut, "abcdef01") || !strings.Contains(errOut, "abcdef02") {
		t.Fatalf("exit %d, stderr %q: want both candidates", code, errOut)
	}
}

func TestStoreProblemsAreExplained(t *testing.T) {
	t.Run("fail/locked", func(t *testing.T) {
		data := initData(t)
		st, err := store.Open(filepath.Join(data, app.DBFile), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		start := time.Now()
		_, errOut, code := gh(t, data, "cert", "list")
		if code != exitError || !strings.Contains(errOut, "locked") || !strings.Contains(errOut, app.DBFile) {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("a locked store made the command hang")
		}
	})
	t.Run("fail/corrupt", func(t *testing.T) {
		data := t.TempDir()
		if err := os.WriteFile(filepath.Join(data, app.DBFile), bytes.Repeat([]byte("garbage!"), 8192), 0o600); err != nil {
			t.Fatal(err)
		}
		_, errOut, code := gh(t, data, "cert", "list")
		if code != exitError || !strings.Contains(errOut, "corrupt") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
	})
	t.Run("fail/data dir open to others", func(t *testing.T) {
		data := t.TempDir()
		os.Chmod(data, 0o755)
		os.WriteFile(filepath.Join(data, "notes.txt"), nil, 0o644) // someone else's directory
		_, errOut, code := gh(t, data, "init")
		if code != exitError || !strings.Contains(errOut, "chmod 700") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		if fi, _ := os.Stat(data); fi.Mode().Perm() != 0o755 {
			t.Fatal("the mode of an existing directory was changed")
		}
	})
	t.Run("fail/data dir under a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		os.WriteFile(file, nil, 0o600)
		_, errOut, code := gh(t, filepath.Join(file, "data"), "init")
		if code != exitError || !strings.Contains(errOut, "data dir") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
	})
}

func TestStaleSocketIsRemoved(t *testing.T) {
	data := initData(t)
	sock := filepath.Join(data, admin.SocketName)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // a crashed daemon leaves its socket file behind
	mustGH(t, data, "cert", "list")
	if _, err := os.Stat(sock); err == nil {
		t.Fatal("stale socket still there")
	}
	startTestDaemon(t, data, "") // and a daemon can start over it
}

func TestServeRefusesBusyAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, errOut, code := gh(t, t.TempDir(), "serve", "--mqtts", ln.Addr().String(), "--wss", "")
	if code != exitError || !strings.Contains(errOut, "address already in use") || !strings.Contains(errOut, ln.Addr().String()) {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestEmptyDataDirIsMadePrivate(t *testing.T) {
	data := t.TempDir()
	os.Chmod(data, 0o755)
	mustGH(t, data, "init")
	if fi, _ := os.Stat(data); fi.Mode().Perm() != 0o700 {
		t.Fatalf("mode %v, want 0700", fi.Mode().Perm())
	}
}

func TestDataDirAndSocketPermissions(t *testing.T) {
	data := filepath.Join(t.TempDir(), "gh")
	startTestDaemon(t, data, "")
	for path, want := range map[string]os.FileMode{data: 0o700, filepath.Join(data, admin.SocketName): 0o600, filepath.Join(data, app.DBFile): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
}

func TestEveryCommandHasHelpWithAnExample(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() == "help" || c.Name() == "completion" || (c.Parent() != nil && c.Parent().Name() == "completion") {
			return
		}
		if c.Example == "" || c.Short == "" {
			t.Errorf("%s has no example or short help", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	root := newRoot(&globals{stdout: io.Discard, stderr: io.Discard})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	walk(root)
	out, _, code := gh(t, t.TempDir(), "completion", "bash")
	if code != exitOK || !strings.Contains(out, "__start_gatehouse") {
		t.Fatalf("completion bash: exit %d", code)
	}
	help, _, _ := gh(t, t.TempDir(), "cert", "create", "--help")
	if !strings.Contains(help, "Examples:") || !strings.Contains(help, "--ttl") {
		t.Fatalf("cert create --help:\n%s", help)
	}
}

func TestBadCommonNamesAndLifetimes(t *testing.T) {
	data := initData(t)
	tests := map[string]struct {
		args []string
		code int
		want string
	}{
		"fail/empty cn":          {[]string{"--cn", " "}, exitUsage, "--cn is empty"},
		"fail/over-long cn":      {[]string{"--cn", strings.Repeat("x", 65)}, exitUsage, "common name"},
		"fail/ttl beyond the CA": {[]string{"--cn", "d", "--ttl", "20000d"}, exitError, "lifetime"},
		"fail/zero ttl":          {[]string{"--cn", "d", "--ttl", "0"}, exitUsage, "invalid TTL"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"cert", "create", "--out", filepath.Join(t.TempDir(), "out")}, tc.args...)
			_, errOut, code := gh(t, data, args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d (want %d), stderr %q, want %q", code, tc.code, errOut, tc.want)
			}
		})
	}
	if out := mustGH(t, data, "cert", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("refused creates left records: %s", out)
	}
}

// TestJSONContracts pins the field names scripts rely on (DESIGN.md section 6).
func TestJSONContracts(t *testing.T) {
	data, out := t.TempDir(), filepath.Join(t.TempDir(), "dev1")
	d := startTestDaemon(t, data, "")
	mustGH(t, data, "cert", "create", "--cn", "dev1", "--out", out)
	c := connectDevice(t, d, out, "dev1-json", nil)
	defer c.Disconnect(0)

	keys := func(args ...string) []map[string]any {
		t.Helper()
		var v []map[string]any
		if err := json.Unmarshal([]byte(mustGH(t, data, append(args, "--json")...)), &v); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if len(v) == 0 {
			t.Fatalf("%v printed no records", args)
		}
		return v
	}
	contracts := map[string]struct {
		args   []string
		fields []string
	}{
		"ok/conn list": {[]string{"conn", "list"}, []string{"client_id", "serial", "cn", "transport", "remote", "connected_at", "msgs_in", "msgs_out", "dropped_out", "retained_refused"}},
		"ok/events":    {[]string{"events"}, []string{"at", "type", "reason", "client_id", "serial", "cn", "remote", "transport"}},
		"ok/cert list": {[]string{"cert", "list"}, []string{"serial", "cn", "state", "not_before", "not_after", "fingerprint", "issuer", "sessions"}},
		"ok/audit":     {[]string{"audit"}, []string{"seq", "at", "actor", "action"}},
		"ok/mtls":      {[]string{"mtls", "status"}, []string{"transport", "addr", "tls", "client_auth", "connected"}},
		"ok/ca list":   {[]string{"ca", "list"}, []string{"id", "role", "subject", "not_after", "strict"}},
	}
	for name, tc := range contracts {
		t.Run(name, func(t *testing.T) {
			for _, rec := range keys(tc.args...) {
				for _, f := range tc.fields {
					if _, ok := rec[f]; !ok {
						t.Fatalf("%v: record lacks %q: %v", tc.args, f, rec)
					}
				}
				if _, ok := rec["key_pem"]; ok {
					t.Fatalf("%v leaks a key field", tc.args)
				}
			}
		})
	}
	conns := keys("conn", "list")
	if conns[0]["client_id"] != "dev1-json" || conns[0]["cn"] != "dev1" {
		t.Fatalf("conn list: %v", conns[0])
	}
}

func TestFollowingEventsNeedsADaemon(t *testing.T) {
	_, errOut, code := gh(t, initData(t), "events", "--follow")
	if code != exitError || !strings.Contains(errOut, "no daemon") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestCAExport(t *testing.T) {
	data, out := initData(t), filepath.Join(t.TempDir(), "ca.pem")
	pem := mustGH(t, data, "ca", "export")
	if !strings.HasPrefix(pem, "-----BEGIN CERTIFICATE-----") || strings.Count(pem, "BEGIN") != 1 {
		t.Fatalf("ca export printed:\n%s", pem)
	}
	var v struct{ File, PEM string }
	if err := json.Unmarshal([]byte(mustGH(t, data, "ca", "export", "--out", out, "--json")), &v); err != nil || v.PEM != pem || v.File != out {
		t.Fatalf("ca export --json: %+v %v", v, err)
	}
	if written, _ := os.ReadFile(out); string(written) != pem {
		t.Fatal("--out wrote something else")
	}
}

func TestSerialCompletion(t *testing.T) {
	data := initData(t)
	serial := strings.TrimSpace(mustGH(t, data, "cert", "create", "--cn", "dev1", "--out", filepath.Join(t.TempDir(), "d")))
	out := mustGH(t, data, "__complete", "cert", "suspend", serial[:3])
	if !strings.Contains(out, serial+"\tdev1 (inactive)") {
		t.Fatalf("completion:\n%s", out)
	}
}

func TestBackupWhileServingAndWithout(t *testing.T) {
	for name, withDaemon := range map[string]bool{"ok/offline": false, "ok/through daemon": true} {
		t.Run(name, func(t *testing.T) {
			data, dir := initData(t), t.TempDir()
			if withDaemon {
				startTestDaemon(t, data, "")
			}
			serial := strings.TrimSpace(mustGH(t, data, "cert", "create", "--cn", "kept", "--out", filepath.Join(dir, "kept")))
			out := filepath.Join(dir, "backup.db")
			mustGH(t, data, "backup", "--out", out)
			if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("backup file: %v %v", err, fi)
			}
			if _, errOut, code := gh(t, data, "backup", "--out", out); code != exitError || !strings.Contains(errOut, "--force") {
				t.Fatalf("overwrite: exit %d %q", code, errOut)
			}
			st, err := store.Open(out, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			id, err := st.ResolveSerial(serial)
			if err != nil {
				t.Fatal(err)
			}
			if c, err := st.GetCert(id); err != nil || c.CN != "kept" {
				t.Fatalf("backup lacks the certificate: %v %v", c, err)
			}
			recs, _ := st.ListAudit(store.AuditQuery{Limit: 1})
			if len(recs) != 1 || recs[0].Action != "store.backup" {
				t.Fatalf("backup does not carry its own audit record: %+v", recs)
			}
		})
	}
}
