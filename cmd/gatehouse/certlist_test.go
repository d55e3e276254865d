package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
	bolt "go.etcd.io/bbolt"
)

// `cert list` prints the same bytes with and without a daemon, however its
// list travels (pages streamed over the socket, or read in-process), and
// the same as printJSON writes the whole list: the --json contract is a
// JSON array of the same objects, whatever the transport.
func TestCertListIsTheSameStreamed(t *testing.T) {
	data := initData(t)
	for _, cn := range []string{"soon", "later", "odd"} {
		ttl := map[string]string{"soon": "7d", "later": "90d", "odd": "30d"}[cn]
		mustGH(t, data, "cert", "create", "--cn", cn, "--ttl", ttl, "--out", filepath.Join(t.TempDir(), cn))
	}
	mustGH(t, data, "cert", "suspend", "odd", "--reason", "moved -> lab <b> & co")
	st, err := store.Open(filepath.Join(data, app.DBFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// More than a page of the stream.
	now := time.Now().Truncate(time.Second)
	var certs []store.Cert
	var audits []store.AuditRecord
	for i := range 1100 {
		serial := fmt.Sprintf("%032x", i+1)
		certs = append(certs, store.Cert{ID: store.CertID(serial, []byte("bulk")), Serial: serial, CN: fmt.Sprintf("bulk-%04d", i),
			State: store.StateActive, NotBefore: now, NotAfter: now.Add(time.Duration(i) * time.Hour), Fingerprint: strings.Repeat("ab", 32),
			Source: store.SourceImported, CreatedAt: now, CertPEM: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"})
		audits = append(audits, store.AuditRecord{Action: "cert.import"})
	}
	if err := st.CreateCerts(certs, audits); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	a, err := app.Open(app.Config{DataDir: data, Access: app.AccessReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	all, err := a.ListCerts(t.Context(), "")
	a.Close()
	if err != nil || len(all) != 1103 {
		t.Fatalf("%d certificates, %v", len(all), err)
	}
	var ref bytes.Buffer
	if err := (&globals{stdout: &ref}).printJSON(all); err != nil {
		t.Fatal(err)
	}
	queries := map[string][]string{
		"all":       {"cert", "list", "--json"},
		"state":     {"cert", "list", "--json", "--state", "suspended"},
		"expiring":  {"cert", "list", "--json", "--expiring", "10d"},
		"none":      {"cert", "list", "--json", "--state", "revoked"},
		"table":     {"cert", "list"},
		"table/exp": {"cert", "list", "--expiring", "10d"},
	}
	without := map[string]string{}
	for name, args := range queries {
		without[name] = mustGH(t, data, args...)
	}
	if without["all"] != ref.String() {
		t.Fatalf("cert list --json differs from printJSON of the list:\n%.600s\nwant\n%.600s", without["all"], ref.String())
	}
	if !strings.Contains(without["state"], `"moved -> lab <b> & co"`) {
		t.Fatalf("--state suspended:\n%s", without["state"])
	}
	if strings.TrimSpace(without["none"]) != "[]" {
		t.Fatalf("an empty list: %q", without["none"])
	}
	var expiring []app.CertView
	if err := json.Unmarshal([]byte(without["expiring"]), &expiring); err != nil || len(expiring) < 200 {
		t.Fatalf("--expiring 10d: %d, %v", len(expiring), err)
	}

	startTestDaemon(t, data, "")
	for name, args := range queries {
		t.Run(name, func(t *testing.T) {
			if got := mustGH(t, data, args...); got != without[name] {
				t.Fatalf("through the daemon:\n%.600s\nwithout:\n%.600s", got, without[name])
			}
		})
	}
}

// doctor names a certificate whose index entry disagrees with its record.
func TestDoctorReportsIndexDisagreement(t *testing.T) {
	data := initData(t)
	serial := strings.TrimSpace(mustGH(t, data, "cert", "create", "--cn", "dev", "--out", filepath.Join(t.TempDir(), "dev")))
	if got := mustGH(t, data, "doctor"); !strings.Contains(got, "1 entries agree with the records") {
		t.Fatalf("doctor on a healthy store: %s", got)
	}
	db, err := bolt.Open(filepath.Join(data, app.DBFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("cert_index"))
		k, _ := b.Cursor().First()
		return b.Delete(k)
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	stdout, errOut, code := gh(t, data, "doctor")
	if code != exitError || !strings.Contains(stdout, "certificate index") || !strings.Contains(stdout, serial+"/") || !strings.Contains(stdout, "has no entry") {
		t.Fatalf("doctor: exit %d, stdout %q, stderr %q", code, stdout, errOut)
	}
}
