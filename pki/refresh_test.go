package pki_test

import (
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
	"github.com/gatehouse/gatehouse/store"
)

// Another process sharing the store (a cluster node) moves certificates
// behind this Authority's back: Refresh and RefreshAll bring the handshake
// snapshot up to date, and RefreshAll names the certificates newly refused.
func TestRefreshFollowsChangesMadeElsewhere(t *testing.T) {
	a, st := pkitest.New(t)
	one, two := issueFrom(t, a, "default", "dev-1"), issueFrom(t, a, "default", "dev-2")
	elsewhere := func(id string, from, to store.State) {
		t.Helper()
		if _, err := st.Transition(id, from, to, store.AuditRecord{Actor: "node2"}); err != nil {
			t.Fatal(err)
		}
	}
	elsewhere(one.Cert.ID, store.StateInactive, store.StateSuspended)
	if got, _ := a.State(one.Cert.ID); got != store.StateInactive {
		t.Fatalf("snapshot changed by itself: %s", got)
	}
	c, was, err := a.Refresh(one.Cert.ID)
	if err != nil || was != store.StateInactive || c.State != store.StateSuspended {
		t.Fatalf("Refresh = %s (was %s), %v", c.State, was, err)
	}
	if got, _ := a.State(one.Cert.ID); got != store.StateSuspended {
		t.Fatalf("snapshot after Refresh: %s", got)
	}
	elsewhere(two.Cert.ID, store.StateInactive, store.StateRevoked)
	elsewhere(one.Cert.ID, store.StateSuspended, store.StateActive)
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
