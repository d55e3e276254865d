package pki_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
	"github.com/gatehouse/gatehouse/store"
)

// A subject created at its first use (Touch writes its record and reloads
// nothing) is active, is found by Resolve and can be suspended, though the
// snapshot has not reloaded it; an unknown subject is still not found.
func TestTokenSubjectCreatedAtFirstUse(t *testing.T) {
	a, _ := pkitest.New(t)
	tokens := a.Tokens()
	if err := tokens.Touch("p1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if tokens.Allowed("p1", "") != nil {
		t.Fatal("a subject created at first use is not active")
	}
	if ref, err := tokens.Resolve("p1"); err != nil || ref.Subject != "p1" {
		t.Fatalf("Resolve(p1) = %+v, %v", ref, err)
	}
	rec, err := tokens.Transition("p1", store.StateSuspended, "ops", "lost", 0)
	if err != nil || rec.State != store.StateSuspended || rec.FirstSeen.IsZero() {
		t.Fatalf("suspend a subject created at first use: %+v, %v", rec, err)
	}
	var refusal *pki.TokenRefusal
	if !errors.As(tokens.Allowed("p1", ""), &refusal) || refusal.Why != pki.ReasonSuspended {
		t.Fatal("the suspended subject is still allowed")
	}
	if _, err := tokens.Transition("nobody", store.StateSuspended, "ops", "", 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("suspend an unknown subject: %v, want ErrNotFound", err)
	}
	if _, err := tokens.Resolve("nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Resolve(nobody): %v, want ErrNotFound", err)
	}
}

// Another node's subject records apply in commit order without a read of
// the store: one older (by revision) than the entry is ignored, also after
// a reload, so that this node's own later commit is never undone by its
// earlier records coming back through the watch; a newer record of the
// state the snapshot holds (a use recorded, or a state a reload read first)
// applies and changes nothing. A revoked jti applies.
func TestTokensApplySubjectIgnoresOlderRecords(t *testing.T) {
	a, _ := pkitest.New(t)
	tokens := a.Tokens()
	if _, err := tokens.Issue(pki.TokenRequest{Subject: "d1", TTL: time.Hour}, "ops"); err != nil {
		t.Fatal(err)
	}
	rec := func(sub string, st store.State, rev int64) store.TokenSubject {
		return store.TokenSubject{Subject: sub, State: st, Revision: rev}
	}
	for _, step := range []struct {
		name    string
		rec     store.TokenSubject
		reload  bool // Refresh before applying rec
		now     store.State
		applied bool
	}{
		{name: "suspend", rec: rec("d1", store.StateSuspended, 10), now: store.StateSuspended, applied: true},
		{name: "older reactivation ignored", rec: rec("d1", store.StateActive, 5), now: store.StateSuspended},
		{name: "same revision ignored", rec: rec("d1", store.StateActive, 10), now: store.StateSuspended},
		{name: "newer record of the same state", rec: rec("d1", store.StateSuspended, 11), now: store.StateSuspended, applied: true},
		{name: "newer reactivation", rec: rec("d1", store.StateActive, 12), now: store.StateActive, applied: true},
		{name: "use recorded", rec: rec("d1", store.StateActive, 13), now: store.StateActive, applied: true},
		{name: "older suspend ignored after a reload", rec: rec("d1", store.StateSuspended, 7), reload: true, now: store.StateActive},
		{name: "subject never loaded", rec: rec("p9", store.StateSuspended, 3), now: store.StateSuspended, applied: true},
		{name: "revoke", rec: rec("p9", store.StateRevoked, 14), now: store.StateRevoked, applied: true},
	} {
		if step.reload {
			if err := tokens.Refresh(); err != nil {
				t.Fatal(err)
			}
		}
		now, applied := tokens.ApplySubject(step.rec)
		if now != step.now || applied != step.applied {
			t.Fatalf("%s: ApplySubject = %s, applied %v; want %s, applied %v", step.name, now, applied, step.now, step.applied)
		}
		var refusal *pki.TokenRefusal
		allowed := !errors.As(tokens.Allowed(step.rec.Subject, ""), &refusal)
		if allowed != (now == store.StateActive) || (!allowed && refusal.Why != string(now)) {
			t.Fatalf("%s: Allowed(%s) = %v, want the subject %s", step.name, step.rec.Subject, refusal, now)
		}
	}
	if tokens.Allowed("d1", "j1") != nil {
		t.Fatal("a jti never revoked is refused")
	}
	tokens.ApplyRevoked("j1")
	var refusal *pki.TokenRefusal
	if !errors.As(tokens.Allowed("d1", "j1"), &refusal) || refusal.Why != pki.ReasonTokenRevoked {
		t.Fatalf("a revoked jti is allowed: %v", refusal)
	}
}

// BenchmarkTokenFirstUse records the first use of one new subject after
// another: the store grows by one subject per iteration, so a first use
// that reloaded every token record would cost more per op the more ops run.
func BenchmarkTokenFirstUse(b *testing.B) {
	a, _ := pkitest.New(b)
	at, i := time.Now(), 0
	for b.Loop() {
		i++
		if err := a.Tokens().Touch(fmt.Sprintf("sub-%06d", i), at); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTokenSubjectChange applies another node's suspend or
// reactivation of one subject among 4,000: by value (ApplySubject, one copy
// of the subjects in memory) against reloading every token record
// (Refresh, how a node applied it before).
func BenchmarkTokenSubjectChange(b *testing.B) {
	a, _ := pkitest.New(b)
	tokens := a.Tokens()
	at := time.Now()
	for i := range 4000 {
		if err := tokens.Touch(fmt.Sprintf("sub-%06d", i), at); err != nil {
			b.Fatal(err)
		}
	}
	if err := tokens.Refresh(); err != nil {
		b.Fatal(err)
	}
	states := [2]store.State{store.StateSuspended, store.StateActive}
	b.Run("apply", func(b *testing.B) {
		rev := int64(0)
		for b.Loop() {
			rev++
			if now, _ := tokens.ApplySubject(store.TokenSubject{Subject: "sub-002000", State: states[rev%2], Revision: rev}); now != states[rev%2] {
				b.Fatalf("state %s", now)
			}
		}
	})
	b.Run("reload", func(b *testing.B) {
		for b.Loop() {
			if err := tokens.Refresh(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
