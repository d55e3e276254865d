package app

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker"
)

// emitSessions emits a connect ("c") or disconnect ("d") of clientID per
// step, through the App's own event path.
func emitSessions(a *App, clientID string, steps ...string) {
	for _, s := range steps {
		typ := broker.EventConnected
		if s == "d" {
			typ = broker.EventDisconnected
		}
		a.emit(broker.Event{At: time.Now(), Type: typ, ClientID: clientID})
	}
}

// waitClaimsWritten waits until a's registry writes are all done.
func waitClaimsWritten(t *testing.T, a *App) {
	t.Helper()
	waitFor(t, "the registry writes to be done", func() bool {
		a.claims.mu.Lock()
		defer a.claims.mu.Unlock()
		return len(a.claims.queued) == 0 && len(a.claims.writing) == 0
	})
}

// waitOwners waits until the registry names owner ("" for none) for every
// one of ids.
func waitOwners(t *testing.T, a *App, ids []string, owner string) {
	t.Helper()
	next := 0 // ids[:next] are known to have the owner
	for deadline := time.Now().Add(20 * time.Second); next < len(ids); {
		o, err := a.reg.Owner(ids[next])
		if err != nil {
			t.Fatal(err)
		}
		if o == owner {
			next++
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d client IDs have owner %q; %s has %q", next, len(ids), owner, ids[next], o)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A connect storm larger than the event hub's backlog (whose subscribers
// lose events past it): every connect is claimed in the registry, and
// every disconnect released, none lost.
func TestClusterConnectStormClaimsAndReleasesEveryClientID(t *testing.T) {
	n1, _, _, _ := twoNodes(t)
	ids := make([]string, subscriberBuffer+1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("storm-%05d", i)
	}
	for _, id := range ids {
		emitSessions(n1, id, "c")
	}
	waitOwners(t, n1, ids, "node1")
	for _, id := range ids {
		emitSessions(n1, id, "d")
	}
	waitOwners(t, n1, ids, "")
}

// Connects and disconnects of one client ID that meet in the queue are one
// write of what holds then: the registry names this node exactly while a
// session of the client ID is live here.
func TestClusterRegistryEntryFollowsTheLiveSessions(t *testing.T) {
	n1, _, _, _ := twoNodes(t)
	tests := map[string]struct {
		batches [][]string // emitted at once; the writes are done between batches
		owner   string
	}{
		"connect":                       {[][]string{{"c"}}, "node1"},
		"connect, disconnect":           {[][]string{{"c", "d"}}, ""},
		"connect, disconnect, connect":  {[][]string{{"c", "d", "c"}}, "node1"},
		"two sessions, one ends":        {[][]string{{"c", "c", "d"}}, "node1"},
		"disconnect of no session":      {[][]string{{"d"}}, ""},
		"claimed, then ended":           {[][]string{{"c"}, {"d"}}, ""},
		"claimed, then ended and again": {[][]string{{"c"}, {"d", "c"}}, "node1"},
		"claimed twice, both ended":     {[][]string{{"c"}, {"c"}, {"d"}, {"d"}}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			id := "dev-" + strings.ReplaceAll(name, " ", "")
			for _, batch := range tc.batches {
				emitSessions(n1, id, batch...)
				waitClaimsWritten(t, n1)
			}
			if o, err := n1.reg.Owner(id); err != nil || o != tc.owner {
				t.Fatalf("registry names %q (%v), want %q", o, err, tc.owner)
			}
		})
	}
}
