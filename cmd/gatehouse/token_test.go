package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// The token commands through a running daemon: create prints the token
// once, --json adds its record; bad input exits 2; suspend and revoke by
// jti report what they did; auth mode shows https too.
func TestTokenCommands(t *testing.T) {
	data := initData(t)
	startTestDaemon(t, data, "ops")
	tok := strings.TrimSpace(mustGH(t, data, "token", "create", "--sub", "dev1", "--ttl", "1h"))
	if strings.Count(tok, ".") != 2 || strings.Contains(tok, " ") {
		t.Fatalf("token create printed %q, want one compact JWT", tok)
	}
	var rec struct {
		Token, JTI, Sub string
	}
	if err := json.Unmarshal([]byte(mustGH(t, data, "token", "create", "--sub", "dev1", "--ttl", "30d", "--json")), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Sub != "dev1" || len(rec.JTI) != 32 || rec.Token == "" {
		t.Fatalf("token create --json = %+v", rec)
	}
	for name, args := range map[string][]string{
		"fail/no sub":        {"token", "create", "--ttl", "1h"},
		"fail/bad ttl":       {"token", "create", "--sub", "d", "--ttl", "soon"},
		"fail/too long ttl":  {"token", "create", "--sub", "d", "--ttl", "400d"},
		"fail/slash in sub":  {"token", "create", "--sub", "a/b", "--ttl", "1h"},
		"fail/bad mode":      {"auth", "mode", "mqtts", "password"},
		"fail/bad transport": {"auth", "mode", "ftp", "jwt"},
		"fail/one argument":  {"auth", "mode", "mqtts"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, errOut, code := gh(t, data, args...); code != exitUsage || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Fatalf("exit %d, stderr %q; want 2 and one line", code, errOut)
			}
		})
	}
	if out := mustGH(t, data, "token", "suspend", "dev1"); !strings.Contains(out, "suspended subject dev1, dropped 0 sessions") {
		t.Fatalf("token suspend said %q", out)
	}
	if out := mustGH(t, data, "token", "revoke", rec.JTI); !strings.Contains(out, "revoked token "+rec.JTI+" of dev1") {
		t.Fatalf("token revoke JTI said %q", out)
	}
	if _, _, code := gh(t, data, "token", "revoke", rec.JTI); code != exitError {
		t.Fatalf("a second revoke of the jti exited %d, want 1", code)
	}
	mustGH(t, data, "auth", "mode", "https", "jwt")
	if out := mustGH(t, data, "auth", "mode"); !strings.Contains(out, "https      jwt") {
		t.Fatalf("auth mode shows %q", out)
	}
	if out := mustGH(t, data, "audit"); !strings.Contains(out, "sub:dev1") || !strings.Contains(out, "token.suspend") {
		t.Fatalf("audit lacks the token suspend: %s", out)
	}
}
