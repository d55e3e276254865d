package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// More expired token records than one etcd transaction can delete (128
// operations) are pruned in several complete updates, on both engines.
func TestPruneTokensBeyondOneTransaction(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open opener) {
		s := open(t)
		now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
		audit := store.AuditRecord{At: now, Action: "token.create"}
		for i := range 130 {
			it := store.IssuedToken{JTI: fmt.Sprintf("old-%03d", i), Subject: "dev", IssuedAt: now.Add(-2 * time.Hour), Expires: now.Add(-time.Hour)}
			if err := s.IssueToken(it, audit); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 10 {
			r := store.RevokedToken{JTI: fmt.Sprintf("rev-%03d", i), Subject: "dev", Expires: now.Add(-time.Minute)}
			if err := s.RevokeTokenID(r, audit); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.IssueToken(store.IssuedToken{JTI: "live", Subject: "dev", IssuedAt: now, Expires: now.Add(time.Hour)}, audit); err != nil {
			t.Fatal(err)
		}
		n, err := s.PruneTokens(now)
		if err != nil || n != 140 {
			t.Fatalf("prune: %d, %v; want 140", n, err)
		}
		d, err := s.TokenData()
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Issued) != 1 || d.Issued[0].JTI != "live" || len(d.Revoked) != 0 {
			t.Fatalf("after prune: %d issued (%+v), %d revoked; want only live", len(d.Issued), d.Issued, len(d.Revoked))
		}
		if n, err := s.PruneTokens(now); err != nil || n != 0 {
			t.Fatalf("second prune: %d, %v; want 0", n, err)
		}
	})
}

// A bulk CreateCerts bigger than one etcd transaction fails whole, with an
// error naming the bound, and stores nothing: it is one atomic batch (all
// or none exist), so it is not split.
func TestCreateCertsBeyondOneEtcdTransaction(t *testing.T) {
	s := openEtcd(t)
	var certs []store.Cert
	var audits []store.AuditRecord
	for i := range 100 {
		certs = append(certs, testCert(fmt.Sprintf("%04x", i), fmt.Sprintf("dev-%d", i)))
		audits = append(audits, store.AuditRecord{Actor: "test", Action: "cert.create"})
	}
	err := s.CreateCerts(certs, audits)
	if err == nil || !strings.Contains(err.Error(), "etcd's 128 operations") {
		t.Fatalf("CreateCerts of 100 on etcd: %v; want the transaction bound named", err)
	}
	if n, err := s.CountCerts(); err != nil || n != 0 {
		t.Fatalf("after the refused batch: %d certificates, %v; want 0", n, err)
	}
	if err := s.CreateCerts(certs[:10], audits[:10]); err != nil {
		t.Fatalf("a batch within the bound: %v", err)
	}
}
