package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The adversarial review's reproduction: a partner CA's leaf with serial
// 0x1004 is accepted although another CA's 1004 exists, over real TLS
// handshakes; the serial alone is ambiguous; suspending one by its ID drops
// only its session and leaves the other active and connected.
func TestTwoCAsCertificatesWithTheSameSerial(t *testing.T) {
	data := initData(t)
	d := startTestDaemon(t, data, "")
	dirA, dirB := t.TempDir(), t.TempDir()
	caA, leafA := partnerCA(t, dirA, "devA", 0x1004)
	caB, _ := partnerCA(t, dirB, "devB", 0x1004)
	for _, dir := range []string{dirA, dirB} {
		mustGH(t, data, "ca", "export", "--out", filepath.Join(dir, "ca.pem"))
	}
	mustGH(t, data, "ca", "trust", caA, "--strict")
	mustGH(t, data, "ca", "trust", caB, "--auto-register") // devB registers on first use; trust is strict unless asked
	mustGH(t, data, "cert", "import", leafA)

	a := connectDevice(t, d, dirA, "devA-1", nil)
	defer a.Disconnect(0)
	b := connectDevice(t, d, dirB, "devB-1", nil) // refused as "unknown certificate" before the fix
	defer b.Disconnect(0)

	var certs []struct{ ID, Serial, CN, State string }
	if err := json.Unmarshal([]byte(mustGH(t, data, "cert", "list", "--json")), &certs); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, c := range certs {
		if c.Serial != "1004" || c.State != "active" || !strings.HasPrefix(c.ID, "1004/") {
			t.Fatalf("certificate %+v, want serial 1004, active, with an ID of its own", c)
		}
		ids[c.CN] = c.ID
	}
	if len(ids) != 2 || ids["devA"] == ids["devB"] {
		t.Fatalf("two certificates expected, got %+v", certs)
	}
	_, errOut, code := gh(t, data, "cert", "suspend", "1004")
	if code != exitUsage || !strings.Contains(errOut, ids["devA"]) || !strings.Contains(errOut, ids["devB"]) {
		t.Fatalf("suspend by the shared serial: exit %d %q, want both IDs as candidates", code, errOut)
	}
	if out := mustGH(t, data, "cert", "suspend", ids["devA"]); !strings.Contains(out, "dropped 1 session") {
		t.Fatalf("suspend devA: %q", out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.IsConnectionOpen() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if a.IsConnectionOpen() {
		t.Fatal("devA's session survived its suspend")
	}
	if !b.IsConnectionOpen() {
		t.Fatal("suspending devA dropped devB, which has the same serial from another CA")
	}
	var shown struct{ State string }
	if err := json.Unmarshal([]byte(mustGH(t, data, "cert", "show", ids["devB"], "--json")), &shown); err != nil || shown.State != "active" {
		t.Fatalf("devB after devA's suspend: %+v %v", shown, err)
	}
	if out := mustGH(t, data, "audit", "--serial", ids["devB"]); strings.Contains(out, "cert.suspend") {
		t.Fatalf("devB's history shows devA's suspend:\n%s", out)
	}
}
