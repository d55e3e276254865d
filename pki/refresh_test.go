package pki_test

import (
	"slices"
	"testing"

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
