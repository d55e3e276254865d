package store_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "g.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestTokenRecords(t *testing.T) {
	s := openStore(t)
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	issue := func(jti, sub string, exp time.Time) error {
		return s.IssueToken(store.IssuedToken{JTI: jti, Subject: sub, IssuedAt: now, Expires: exp}, store.AuditRecord{At: now, Action: "token.create"})
	}
	if err := issue("j1", "dev1", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := issue("j1", "dev1", now.Add(time.Hour)); !errors.Is(err, store.ErrExists) {
		t.Fatalf("same jti twice: %v, want ErrExists", err)
	}
	if err := issue("j0", "dev1", now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TransitionSubject("dev1", store.StateSuspended, store.StateActive, store.AuditRecord{At: now}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CAS from the wrong state: %v, want ErrConflict", err)
	}
	if _, err := s.TransitionSubject("nobody", store.StateActive, store.StateSuspended, store.AuditRecord{At: now}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown subject: %v, want ErrNotFound", err)
	}
	if _, err := s.TransitionSubject("dev1", store.StateActive, store.StateRevoked, store.AuditRecord{At: now, Action: "token.revoke", Actor: "ops"}); err != nil {
		t.Fatal(err)
	}
	if err := issue("j2", "dev1", now.Add(time.Hour)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("issue for a revoked subject: %v, want ErrConflict", err)
	}
	if err := s.RevokeTokenID(store.RevokedToken{JTI: "j0", Subject: "dev1", Expires: now.Add(-time.Hour)}, store.AuditRecord{At: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeTokenID(store.RevokedToken{JTI: "j0"}, store.AuditRecord{At: now}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("revoke twice: %v, want ErrExists", err)
	}
	if err := s.TouchSubject("p1", now); err != nil {
		t.Fatalf("touch of a new subject: %v", err)
	}
	if err := s.PutTokenKeys([]store.TokenKey{{KID: "gh", Name: "gatehouse", Own: true, PrivateKey: "sealed"}, {KID: "p", Name: "partner"}}, store.AuditRecord{At: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteTokenKeys("gatehouse", store.AuditRecord{At: now}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("our own key is never untrusted: %v", err)
	}
	n, err := s.PruneTokens(now)
	if err != nil || n != 2 {
		t.Fatalf("prune: %d, %v; want 2 (j0 issued and revoked)", n, err)
	}
	d, err := s.TokenData()
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Issued) != 1 || d.Issued[0].JTI != "j1" || len(d.Revoked) != 0 || len(d.Subjects) != 2 || len(d.Keys) != 2 {
		t.Fatalf("token data %+v", d)
	}
	for _, k := range d.Keys {
		if k.PrivateKey != "" {
			t.Fatalf("TokenData leaks the sealed key of %s", k.KID)
		}
	}
	own, err := s.OwnTokenKey()
	if err != nil || own.PrivateKey != "sealed" {
		t.Fatalf("own key %+v, %v", own, err)
	}
	recs, err := s.ListAudit(store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var revoke *store.AuditRecord
	for i := range recs {
		if recs[i].Action == "token.revoke" {
			revoke = &recs[i]
		}
	}
	if revoke == nil || revoke.Subject != "dev1" || revoke.From != store.StateActive || revoke.To != store.StateRevoked || revoke.Actor != "ops" {
		t.Fatalf("revoke audit %+v", revoke)
	}
}
