package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/gatehouse/gatehouse/store"
)

// A unique CN works wherever a serial does; an ambiguous one lists the
// candidates and is a usage error. Both with and without a daemon.
func TestCertByCN(t *testing.T) {
	for name, withDaemon := range map[string]bool{"ok/offline": false, "ok/through daemon": true} {
		t.Run(name, func(t *testing.T) {
			data, out := initData(t), t.TempDir()
			if withDaemon {
				startTestDaemon(t, data, "")
			}
			dev1 := strings.TrimSpace(mustGH(t, data, "cert", "create", "--cn", "dev1", "--out", filepath.Join(out, "dev1")))
			twin1 := strings.TrimSpace(mustGH(t, data, "cert", "create", "--cn", "twin", "--out", filepath.Join(out, "t1")))
			twin2 := strings.TrimSpace(mustGH(t, data, "cert", "create", "--cn", "twin", "--out", filepath.Join(out, "t2")))

			if got := mustGH(t, data, "cert", "suspend", "dev1"); !strings.Contains(got, "suspended dev1 ("+dev1+")") {
				t.Fatalf("suspend by CN: %q", got)
			}
			if got := mustGH(t, data, "cert", "show", "DEV1"); !strings.Contains(got, dev1) {
				t.Fatalf("show by CN, any case: %q", got)
			}
			_, errOut, code := gh(t, data, "cert", "revoke", "twin")
			if code != exitUsage || !strings.Contains(errOut, twin1) || !strings.Contains(errOut, twin2) {
				t.Fatalf("ambiguous CN: exit %d, stderr %q: want 2 and both serials", code, errOut)
			}
			if _, errOut, code := gh(t, data, "cert", "suspend", "nobody"); code != exitError || !strings.Contains(errOut, "nobody") {
				t.Fatalf("unknown CN: exit %d, stderr %q", code, errOut)
			}
		})
	}
}

// conn kick drops one session through the daemon, audited with its actor;
// the certificate stays active, so the device may come back.
func TestConnKick(t *testing.T) {
	data, out := t.TempDir(), filepath.Join(t.TempDir(), "dev1")
	d := startTestDaemon(t, data, "")
	serial := strings.TrimSpace(mustGH(t, data, "cert", "create", "--cn", "dev1", "--out", out))
	lost := make(chan error, 1)
	c := connectDevice(t, d, out, "dev1-kick", func(_ paho.Client, err error) { lost <- err })
	defer c.Disconnect(0)

	if got := mustGH(t, data, "conn", "kick", "dev1-kick"); !strings.Contains(got, "kicked dev1-kick") {
		t.Fatalf("conn kick printed %q", got)
	}
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("the kicked device is still connected")
	}
	var audit []store.AuditRecord
	if err := json.Unmarshal([]byte(mustGH(t, data, "audit", "--json")), &audit); err != nil {
		t.Fatal(err)
	}
	if len(audit) == 0 || audit[0].Action != "session.kick" || audit[0].Detail != "dev1-kick" || audit[0].Serial != serial || audit[0].Actor == "" {
		t.Fatalf("newest audit record: %+v", audit[0])
	}
	certs, err := d.app.ListCerts(context.Background(), "")
	if err != nil || certs[0].State != store.StateActive {
		t.Fatalf("after a kick the certificate is %v (%v), want still active", certs[0].State, err)
	}
	connectDevice(t, d, out, "dev1-kick", nil).Disconnect(0) // it may come back
	if _, errOut, code := gh(t, data, "conn", "kick", "nobody"); code != exitError || !strings.Contains(errOut, "no live session") {
		t.Fatalf("kick of an unknown client: exit %d, stderr %q", code, errOut)
	}
}
