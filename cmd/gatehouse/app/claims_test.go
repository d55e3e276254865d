package app

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/internal/etcdtest"
	"github.com/gatehouse/gatehouse/store"
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
		o, err := a.reg.Load().Owner(ids[next])
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
			if o, err := n1.reg.Load().Owner(id); err != nil || o != tc.owner {
				t.Fatalf("registry names %q (%v), want %q", o, err, tc.owner)
			}
		})
	}
}

// Another node's claim of a client ID live here drops the session here
// when it is the later claim by revision: at once against this node's claim
// already written, and, while this node's claim is still queued or being
// written, once that claim is written (or failed).
func TestSessionClaimsJudgeAnotherNodesClaimByRevision(t *testing.T) {
	tests := map[string]struct {
		gone     bool   // no session of the client ID is live here
		claimRev int64  // this node's claim written before (0: none)
		pending  string // this node's next claim: "", "queued" or "writing"
		rival    int64  // the revision of the other node's claim
		now      bool   // the session drops when the rival claim is seen
		written  int64  // the pending claim's revision once written; 0: it failed
		lost     bool   // the session drops once the pending claim is written
	}{
		"no session here":                          {gone: true, claimRev: 10, rival: 12},
		"own claim newer":                          {claimRev: 10, rival: 8},
		"own claim older":                          {claimRev: 10, rival: 12, now: true},
		"own claim never written":                  {rival: 5, now: true},
		"own claim queued: it comes later":         {claimRev: 10, pending: "queued", rival: 12, written: 15},
		"own claim being written, rival before it": {claimRev: 10, pending: "writing", rival: 12, written: 15},
		"own claim being written, rival after it":  {claimRev: 10, pending: "writing", rival: 20, written: 15, lost: true},
		"own claim failed, rival seen meanwhile":   {claimRev: 10, pending: "writing", rival: 12, lost: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var c sessionClaims
			c.prepare()
			if !tc.gone {
				c.live["x"] = 1
			}
			if tc.claimRev > 0 {
				c.rev["x"] = tc.claimRev
			}
			switch tc.pending {
			case "queued":
				c.queued["x"] = struct{}{}
			case "writing":
				c.writing["x"] = struct{}{}
			}
			if now := c.rivalled("x", "n2", tc.rival); now != tc.now {
				t.Fatalf("rivalled = %v, want %v", now, tc.now)
			}
			if tc.pending == "" {
				return
			}
			if tc.pending == "queued" {
				if claims, _ := c.take(store.SessionBatch); len(claims) != 1 {
					t.Fatalf("take = %v, want the queued claim", claims)
				}
			}
			lost := c.claimed([]string{"x"}, tc.written, tc.written > 0)
			if got := lost["x"] == "n2"; got != tc.lost || len(lost) > 1 {
				t.Fatalf("claimed lost %v, want x lost %v", lost, tc.lost)
			}
			if c.unwritten("x") {
				t.Fatal("the claim is still marked unwritten")
			}
		})
	}
}

// A claim etcd did not answer in time, while the node still took etcd to
// be reachable (no probe had found it gone), is written again once etcd
// answers: the client ID is not left out of the registry.
func TestClusterClaimThatTimedOutIsWrittenAgain(t *testing.T) {
	srv, err := etcdtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	link := newLink(t, strings.TrimPrefix(srv.Endpoints()[0], "http://"))
	a, err := Open(Config{DataDir: t.TempDir(), Actor: "n1", Node: "n1",
		Etcd: &store.EtcdConfig{Endpoints: []string{"http://" + link.addr}, Prefix: "/gatehouse", Timeout: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)           // before Close: the registry's goroutines end with ctx
	a.startSessionRegistry(ctx) // the registry alone: no broker, no probe
	if a.reg.Load() == nil {
		t.Fatal("the registry did not open")
	}
	link.cut()
	emitSessions(a, "dev-late", "c")
	time.Sleep(1500 * time.Millisecond) // the claim's transaction timed out meanwhile
	link.restore()
	waitLong(t, "the timed-out claim to be written again", func() bool {
		o, err := a.reg.Load().Owner("dev-late")
		return err == nil && o == "n1"
	})
}
