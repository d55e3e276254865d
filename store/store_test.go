package store_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

func openTemp(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "data", "gatehouse.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testCert(serial, cn string) store.Cert {
	now := time.Now().Truncate(time.Second)
	return store.Cert{
		Serial: serial, CN: cn, State: store.StateInactive, Source: store.SourceIssued,
		NotBefore: now, NotAfter: now.Add(time.Hour), CreatedAt: now,
		Fingerprint: "00", CertPEM: "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
	}
}

func TestCertRoundTrip(t *testing.T) {
	s := openTemp(t)
	c := testCert("3f2a01bc", "dev-1")
	if err := s.CreateCert(c, store.AuditRecord{Actor: "test", Action: "cert.create"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateCert(c, store.AuditRecord{}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second create: got %v, want ErrExists", err)
	}
	got, err := s.GetCert(c.Serial)
	if err != nil || got.CN != "dev-1" || got.State != store.StateInactive {
		t.Fatalf("GetCert = %+v, %v", got, err)
	}
	if _, err := s.GetCert("beef"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetCert missing: %v", err)
	}
	at := time.Now().Truncate(time.Second)
	got, err = s.Transition(c.Serial, store.StateInactive, store.StateActive, store.AuditRecord{At: at, Actor: "broker", Action: "cert.activate", Reason: "first use"})
	if err != nil {
		t.Fatal(err)
	}
	if got.State != store.StateActive || !got.FirstSeen.Equal(at) || got.Reason != "first use" {
		t.Fatalf("after transition: %+v", got)
	}
	if _, err := s.Transition(c.Serial, store.StateInactive, store.StateSuspended, store.AuditRecord{}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale transition: %v, want ErrConflict", err)
	}
	audit, err := s.ListAudit(store.AuditQuery{Serial: c.Serial})
	if err != nil || len(audit) != 2 || audit[0].Action != "cert.activate" || audit[0].From != store.StateInactive {
		t.Fatalf("audit = %+v, %v", audit, err)
	}
}
