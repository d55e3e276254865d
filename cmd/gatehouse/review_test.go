package main

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

// A serial naming several certificates (two CAs issued it) is the caller's
// mistake, as an ambiguous CN is: exit 2.
func TestAmbiguousSerialExits2(t *testing.T) {
	data := initData(t)
	for _, cn := range []string{"devA", "devB"} {
		ca, leaf := partnerCA(t, t.TempDir(), cn, 0x1004)
		mustGH(t, data, "ca", "trust", ca)
		mustGH(t, data, "cert", "import", leaf)
	}
	_, errOut, code := gh(t, data, "cert", "show", "1004")
	if code != exitUsage || strings.Count(errOut, "1004/") != 2 {
		t.Fatalf("ambiguous serial: exit %d, stderr %q: want 2 and both certificate IDs", code, errOut)
	}
}

// The audit DETAIL column keeps the operator's reason apart from what the
// action did.
func TestAuditDetailSeparatesReasonAndDetail(t *testing.T) {
	data, out := initData(t), t.TempDir()
	serial := strings.TrimSpace(mustGH(t, data, "cert", "create", "--cn", "dev1", "--out", filepath.Join(out, "dev1")))
	mustGH(t, data, "cert", "revoke", serial, "--reason", "compromised")
	recs := mustGH(t, data, "audit", "--limit", "1")
	if !strings.Contains(recs, "compromised; ") {
		t.Fatalf("audit of a revocation with a reason: %q, want the reason then \"; \" then the detail", recs)
	}
}

// A healthy store of an older schema is an upgrade to run, not damage:
// doctor says so and exits 0; init says it upgraded it; doctor then finds
// the store healthy.
func TestOlderSchemaIsAnUpgradeNotDamage(t *testing.T) {
	data := initData(t)
	path := filepath.Join(data, app.DBFile)
	old := store.SchemaVersion - 1
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte(strconv.Itoa(old)))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	stdout, errOut, code := gh(t, data, "doctor")
	if code != exitOK || strings.Contains(stdout, "DAMAGED") || strings.Contains(stdout, "restore") ||
		!strings.Contains(stdout, "upgrade pending: run 'gatehouse init' (or start 'gatehouse serve') once to upgrade it") {
		t.Fatalf("doctor on schema %d: exit %d, stdout %q, stderr %q: want exit 0 and the upgrade pending", old, code, stdout, errOut)
	}
	want := "upgraded the store at " + path + " from schema " + strconv.Itoa(old) + " to " + strconv.Itoa(store.SchemaVersion)
	if got := mustGH(t, data, "init"); !strings.Contains(got, want) {
		t.Fatalf("init on schema %d printed %q, want %q", old, got, want)
	}
	if got := mustGH(t, data, "init"); !strings.Contains(got, "nothing to do") {
		t.Fatalf("init on an upgraded store printed %q", got)
	}
	if got := mustGH(t, data, "doctor"); !strings.Contains(got, "the store is healthy") {
		t.Fatalf("doctor after the upgrade: %q", got)
	}
}
