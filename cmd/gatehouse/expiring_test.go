package main

import (
	"strings"
	"testing"
)

func TestCertListExpiring(t *testing.T) {
	data := initData(t)
	soon := strings.TrimSpace(mustGH(t, data, "cert", "create", "--cn", "soon", "--ttl", "7d", "--out", data+"/soon"))
	later := strings.TrimSpace(mustGH(t, data, "cert", "create", "--cn", "later", "--ttl", "90d", "--out", data+"/later"))
	out := mustGH(t, data, "cert", "list", "--expiring", "30d")
	if !strings.Contains(out, soon) || strings.Contains(out, later) {
		t.Fatalf("cert list --expiring 30d:\n%s\nwant %s and not %s", out, soon, later)
	}
	if _, errOut, code := gh(t, data, "cert", "list", "--expiring", "soon"); code != exitUsage || !strings.Contains(errOut, "invalid TTL") {
		t.Errorf("--expiring soon: exit %d, stderr %q", code, errOut)
	}
}
