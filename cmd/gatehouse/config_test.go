package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/spf13/cobra"
)

// showConfig runs `config show --json` and returns the settings by key.
func showConfig(t *testing.T, data string, args ...string) (map[string]setting, string) {
	t.Helper()
	out := mustGH(t, data, append([]string{"config", "show", "--json"}, args...)...)
	var cfg config
	if err := json.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatalf("config show: %v\n%s", err, out)
	}
	m := map[string]setting{}
	for _, s := range cfg.Settings {
		m[s.Key] = s
	}
	return m, cfg.File
}

func TestConfigPrecedence(t *testing.T) {
	data := t.TempDir()
	file := `mqtts = "127.0.0.1:1883"
wss = "127.0.0.1:1884"
log-level = "debug"
san = ["a.example", "b.example"]
events-keep = 500
events-max-age = "48h"
`
	if err := os.WriteFile(filepath.Join(data, ConfigFile), []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GATEHOUSE_WSS", "127.0.0.1:2884")
	t.Setenv("GATEHOUSE_LOG_LEVEL", "warn")
	got, path := showConfig(t, data, "--log-level", "error")
	if path != filepath.Join(data, ConfigFile) {
		t.Fatalf("read %q, want the data dir's %s", path, ConfigFile)
	}
	tests := map[string]struct{ key, value, source string }{
		"flag beats env and file": {"log-level", "error", "flag"},
		"env beats file":          {"wss", "127.0.0.1:2884", "env"},
		"file beats default":      {"mqtts", "127.0.0.1:1883", "file"},
		"file list":               {"san", "a.example,b.example", "file"},
		"file number":             {"events-keep", "500", "file"},
		"file duration":           {"events-max-age", "48h0m0s", "file"},
		"default":                 {"log-format", "text", "default"},
		"flags other helpers add": {"ssh", "", "default"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, ok := got[tc.key]
			if !ok {
				t.Fatalf("no setting %q in %v", tc.key, got)
			}
			if s.Value != tc.value || s.Source != tc.source || s.Env != "GATEHOUSE_"+strings.ToUpper(strings.ReplaceAll(tc.key, "-", "_")) {
				t.Fatalf("%s = %+v, want %q from %s", tc.key, s, tc.value, tc.source)
			}
		})
	}
	if _, ok := got["config"]; ok {
		t.Fatal("--config itself is listed as a setting")
	}
}

func TestConfigErrors(t *testing.T) {
	tests := map[string]struct {
		file string
		args []string
		env  map[string]string
		want string
	}{
		"unknown key":        {file: "mqtts = \":1\"\nmax-everything = 3\n", want: `unknown key "max-everything"`},
		"bad value":          {file: "events-keep = \"many\"\n", want: `key "events-keep"`},
		"table":              {file: "[broker]\nmqtts = \":1\"\n", want: `unknown key "broker"`},
		"bad toml":           {file: "mqtts = \n", want: "config "},
		"missing named file": {args: []string{"--config", "/nonexistent/g.toml"}, want: "/nonexistent/g.toml"},
		"bad env":            {env: map[string]string{"GATEHOUSE_EVENTS_KEEP": "x"}, want: "GATEHOUSE_EVENTS_KEEP"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			data := t.TempDir()
			if tc.file != "" {
				if err := os.WriteFile(filepath.Join(data, ConfigFile), []byte(tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, errOut, code := gh(t, data, append([]string{"config", "show"}, tc.args...)...)
			if code != exitUsage || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") > 1 {
				t.Fatalf("exit %d, stderr %q; want exit 2 naming %q", code, errOut, tc.want)
			}
		})
	}
}

// A file named with --config or $GATEHOUSE_CONFIG replaces the data dir's.
func TestConfigFileChoice(t *testing.T) {
	data := t.TempDir()
	other := filepath.Join(t.TempDir(), "other.toml")
	if err := os.WriteFile(other, []byte("mqtt = \"127.0.0.1:1885\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, ConfigFile), []byte("mqtt = \"127.0.0.1:9\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, path := showConfig(t, data, "--config", other)
	if path != other || got["mqtt"].Value != "127.0.0.1:1885" {
		t.Fatalf("--config: read %s, mqtt=%+v", path, got["mqtt"])
	}
	t.Setenv("GATEHOUSE_CONFIG", other)
	got, path = showConfig(t, data)
	if path != other || got["mqtt"].Source != "file" {
		t.Fatalf("GATEHOUSE_CONFIG: read %s, mqtt=%+v", path, got["mqtt"])
	}
}

// SIGHUP's reload applies the log level live, names what needs a restart,
// and keeps what the command line set.
func TestReloadConfig(t *testing.T) {
	data := t.TempDir()
	path := filepath.Join(data, ConfigFile)
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("log-level = \"info\"\nmqtts = \"127.0.0.1:1883\"\n")
	g := &globals{}
	serve := newServe(g)
	if err := serve.ParseFlags([]string{"--wss", "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := applyConfig(serve, data, os.Getenv); err != nil {
		t.Fatal(err)
	}
	level := new(slog.LevelVar)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	var applied []broker.Limits
	apply := func() ([]string, error) {
		applied = append(applied, servedLimits(t, serve))
		return []string{"max-queued"}, nil
	}
	write("log-level = \"debug\"\nmqtts = \"127.0.0.1:2883\"\nwss = \"127.0.0.1:2\"\n")
	reload(g, serve, data, level, log, apply)
	if len(applied) != 0 {
		t.Fatal("limits were applied although none changed")
	}
	if level.Level() != slog.LevelDebug {
		t.Fatalf("log level %v after reload, want debug", level.Level())
	}
	out := logs.String()
	for _, want := range []string{"log level changed", "restart gatehouse serve to apply it", "key=mqtts"} {
		if !strings.Contains(out, want) {
			t.Fatalf("reload log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "key=wss") {
		t.Fatalf("a setting given as a flag was reported as changed by the file:\n%s", out)
	}

	// Limits are applied live, together; those the broker fixed at start are
	// reported as needing a restart.
	logs.Reset()
	write("log-level = \"debug\"\nmqtts = \"127.0.0.1:2883\"\nmax-msg-rate = 7\nmax-queued = 9\n")
	reload(g, serve, data, level, log, apply)
	if len(applied) != 1 || applied[0].MaxMsgRate != 7 {
		t.Fatalf("limits applied %+v, want one call with max-msg-rate 7", applied)
	}
	if out := logs.String(); !strings.Contains(out, "limits reloaded") || !strings.Contains(out, "key=max-queued") {
		t.Fatalf("reload log:\n%s", out)
	}

	write("no-such-key = 1\n")
	logs.Reset()
	reload(g, serve, data, level, log, apply)
	if !strings.Contains(logs.String(), "config not reloaded") || level.Level() != slog.LevelDebug {
		t.Fatalf("a bad file must be refused and change nothing:\n%s", logs.String())
	}
}

// servedLimits reads the limit flags of a serve command as the daemon would.
func servedLimits(t *testing.T, serve *cobra.Command) broker.Limits {
	t.Helper()
	get := func(name string) int {
		v, err := serve.Flags().GetInt(name)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	return broker.Limits{MaxMsgRate: get("max-msg-rate"), MaxQueued: get("max-queued")}
}
