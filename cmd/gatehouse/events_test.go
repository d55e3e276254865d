package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestEventsFiltersAndFormats(t *testing.T) {
	data := initData(t)
	serial := strings.TrimSpace(mustGH(t, data, "cert", "create", "--cn", "dev1", "--out", filepath.Join(t.TempDir(), "dev1")))
	mustGH(t, data, "cert", "suspend", serial)
	other := strings.TrimSpace(mustGH(t, data, "cert", "create", "--cn", "dev2", "--out", filepath.Join(t.TempDir(), "dev2")))

	csvRows := func(args ...string) [][]string {
		t.Helper()
		rows, err := csv.NewReader(strings.NewReader(mustGH(t, data, append([]string{"events", "--csv"}, args...)...))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	tests := map[string]struct {
		args []string
		want int // rows after the header
	}{
		"all":               {nil, 3},
		"by type":           {[]string{"--type", "cert_state,refused"}, 3},
		"other type":        {[]string{"--type", "refused"}, 0},
		"by serial prefix":  {[]string{"--serial", serial[:6]}, 2},
		"the other serial":  {[]string{"--serial", other}, 1},
		"newest one":        {[]string{"--limit", "1"}, 1},
		"since a while ago": {[]string{"--since", "1h"}, 3},
		"since a time":      {[]string{"--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, 0},
		"since days":        {[]string{"--since", "7d"}, 3},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rows := csvRows(tc.args...)
			if strings.Join(rows[0], ",") != "at,type,reason,client_id,serial,cn,remote,transport" || len(rows)-1 != tc.want {
				t.Fatalf("csv %v: %v, want %d rows", tc.args, rows, tc.want)
			}
		})
	}
	lines := strings.Split(strings.TrimSpace(mustGH(t, data, "events", "--ndjson", "--serial", serial)), "\n")
	if len(lines) != 2 {
		t.Fatalf("ndjson: %q", lines)
	}
	for _, l := range lines {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil || e["serial"] != serial || e["type"] != "cert_state" {
			t.Fatalf("ndjson line %q: %v", l, err)
		}
	}
	if !strings.Contains(lines[1], "active -> suspended by ") && !strings.Contains(lines[1], "inactive -> suspended by ") {
		t.Fatalf("the suspend event does not name its actor: %s", lines[1])
	}
	for name, args := range map[string][]string{
		"bad since":      {"events", "--since", "yesterday"},
		"two formats":    {"events", "--csv", "--ndjson"},
		"json and csv":   {"events", "--csv", "--json"},
		"negative limit": {"events", "--limit", "-1"},
	} {
		if _, errOut, code := gh(t, data, args...); code != exitUsage || errOut == "" {
			t.Fatalf("%s: exit %d, stderr %q; want a usage error", name, code, errOut)
		}
	}
}

func TestVersionFormats(t *testing.T) {
	line := regexp.MustCompile(`^gatehouse \S+ \(commit \S+, go\S+, built \S+\)\n$`)
	a, b := mustGH(t, t.TempDir(), "version"), mustGH(t, t.TempDir(), "--version")
	if !line.MatchString(a) || a != b {
		t.Fatalf("version %q, --version %q: want one line in one format", a, b)
	}
	var v buildInfo
	if err := json.Unmarshal([]byte(mustGH(t, t.TempDir(), "version", "--json")), &v); err != nil || v.GoVersion == "" || v.Version == "" {
		t.Fatalf("version --json: %+v, %v", v, err)
	}
}

func TestCertCreateWarnsInsideAGitWorkTree(t *testing.T) {
	data, repo := initData(t), t.TempDir()
	if err := os.Mkdir(filepath.Join(repo, ".git"), 0o700); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		out  string
		warn bool
	}{
		"inside a work tree": {filepath.Join(repo, "devices", "dev1"), true},
		"elsewhere":          {filepath.Join(t.TempDir(), "dev2"), false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, errOut, code := gh(t, data, "cert", "create", "--cn", filepath.Base(tc.out), "--out", tc.out)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if !strings.Contains(errOut, "the private key is not kept by gatehouse: it is only in "+filepath.Join(tc.out, "client.key")+"\n") {
				t.Fatalf("stderr does not say where the key went: %s", errOut)
			}
			if got := strings.Contains(errOut, "warning: "+tc.out+" is inside the git work tree "+repo); got != tc.warn {
				t.Fatalf("git warning %v, want %v: %s", got, tc.warn, errOut)
			}
		})
	}
}
