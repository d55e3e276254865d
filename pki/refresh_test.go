package pki_test

import (
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
	"github.com/gatehouse/gatehouse/store"
)

// Another process sharing the store (a cluster node) moves certificates
// behind this Authority's back: Apply sets the records its watch delivers,
// in commit order, and ignores one older than the entry it holds (its own
// commits come back through the watch after newer ones); RefreshAll reloads
// every state and names the certificates newly refused.
func TestApplyAndRefreshAllFollowChangesMadeElsewhere(t *testing.T) {
	a, st := pkitest.New(t)
	one, two := issueFrom(t, a, "default", "dev-1"), issueFrom(t, a, "default", "dev-2")
	// rev stands for etcd's revision, which a store file does not have.
	elsewhere := func(id string, from, to store.State, rev int64) store.Cert {
		t.Helper()
		c, err := st.Transition(id, from, to, store.AuditRecord{Actor: "node2"})
		if err != nil {
			t.Fatal(err)
		}
		c.Revision = rev
		return c
	}
	suspended := elsewhere(one.Cert.ID, store.StateInactive, store.StateSuspended, 10)
	if got, _ := a.State(one.Cert.ID); got != store.StateInactive {
		t.Fatalf("snapshot changed by itself: %s", got)
	}
	reactivated := elsewhere(one.Cert.ID, store.StateSuspended, store.StateActive, 11)
	steps := []struct {
		apply    store.Cert
		was, now store.State
	}{
		{suspended, store.StateInactive, store.StateSuspended}, // applied from the record, though the store holds active now
		{reactivated, store.StateSuspended, store.StateActive},
		{suspended, store.StateActive, store.StateActive}, // older than the entry: ignored
	}
	for i, s := range steps {
		was, now, err := a.Apply(s.apply)
		if err != nil || was != s.was || now != s.now {
			t.Fatalf("step %d: Apply(%s at %d) = %s -> %s, %v; want %s -> %s", i, s.apply.State, s.apply.Revision, was, now, err, s.was, s.now)
		}
		if got, _ := a.State(one.Cert.ID); got != s.now {
			t.Fatalf("step %d: snapshot holds %s, want %s", i, got, s.now)
		}
	}
	elsewhere(one.Cert.ID, store.StateActive, store.StateSuspended, 12)
	elsewhere(two.Cert.ID, store.StateInactive, store.StateRevoked, 13)
	elsewhere(one.Cert.ID, store.StateSuspended, store.StateActive, 14)
	refused, err := a.RefreshAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(refused, []string{two.Cert.ID}) {
		t.Fatalf("RefreshAll refused %v, want only %s", refused, two.Cert.ID)
	}
	for id, want := range map[string]store.State{one.Cert.ID: store.StateActive, two.Cert.ID: store.StateRevoked} {
		if got, _ := a.State(id); got != want {
			t.Errorf("%s in the snapshot: %s, want %s", id, got, want)
		}
	}
}

// A device's first use on two cluster nodes at once: the other node activated
// (or an operator there suspended) the certificate, and this node's snapshot
// has not heard of it yet. FirstUse decides on what the store holds instead of
// refusing the connection with an internal error.
func TestFirstUseAfterAnotherNodeWon(t *testing.T) {
	tests := map[string]struct {
		to   store.State
		want string // refusal reason; "" admits
	}{
		"activated there": {store.StateActive, ""},
		"suspended there": {store.StateSuspended, pki.ReasonSuspended},
		"revoked there":   {store.StateRevoked, pki.ReasonRevoked},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a, st := pkitest.New(t)
			iss := pkitest.Issue(t, a, "dev")
			chain := chainOf(t, pkitest.ClientTLS(t, iss))
			if err := a.Check(chain); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Transition(iss.Cert.ID, store.StateInactive, tc.to, store.AuditRecord{Actor: "node2"}); err != nil {
				t.Fatal(err)
			}
			err := a.FirstUse(chain)
			if got := reason(err); got != tc.want || (tc.want == "" && err != nil) {
				t.Fatalf("FirstUse = %v (reason %q), want reason %q", err, got, tc.want)
			}
		})
	}
}
