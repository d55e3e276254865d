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
	if !tokens.Holds("p1", store.StateActive) || tokens.Allowed("p1", "") != nil {
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
	if !tokens.Holds("p1", store.StateSuspended) || !errors.As(tokens.Allowed("p1", ""), &refusal) {
		t.Fatal("the suspended subject is still allowed")
	}
	if _, err := tokens.Transition("nobody", store.StateSuspended, "ops", "", 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("suspend an unknown subject: %v, want ErrNotFound", err)
	}
	if _, err := tokens.Resolve("nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Resolve(nobody): %v, want ErrNotFound", err)
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
