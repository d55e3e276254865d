package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// openRegistry opens node's session registry on the store under prefix.
func openRegistry(t testing.TB, prefix, node string) *store.SessionRegistry {
	t.Helper()
	reg, err := openEtcdAt(t, prefix).Sessions(node, 5*time.Second, func(*store.SessionRegistry) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg
}

func clientIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("dev-%03d", i)
	}
	return ids
}

// A batch of claims is one transaction: every client ID is claimed at the
// revision ClaimAll returns, and the watch reports each at that revision. A
// batch of releases removes only the entries that still name this node.
func TestSessionRegistryClaimsAndReleasesInBatches(t *testing.T) {
	prefix := freshPrefix()
	n1, n2 := openRegistry(t, prefix, "n1"), openRegistry(t, prefix, "n2")
	ids := clientIDs(store.SessionBatch)
	owners := func() map[string]int {
		t.Helper()
		count := map[string]int{}
		for _, id := range ids {
			o, err := n1.Owner(id)
			if err != nil {
				t.Fatal(err)
			}
			count[o]++
		}
		return count
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type claim struct {
		node string
		rev  int64
	}
	seen := make(chan claim, 4*len(ids))
	go n2.Watch(ctx, func(_, node string, rev int64) { seen <- claim{node, rev} })

	rev1, err := n1.ClaimAll(ids)
	if err != nil || rev1 == 0 {
		t.Fatalf("ClaimAll = %d, %v", rev1, err)
	}
	if got := owners(); got["n1"] != len(ids) {
		t.Fatalf("owners after n1's batch: %v", got)
	}
	for range ids {
		select {
		case c := <-seen:
			if c != (claim{"n1", rev1}) {
				t.Fatalf("watch reported a claim by %s at %d, want n1 at %d", c.node, c.rev, rev1)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the watch did not report every claim of the batch")
		}
	}
	half := len(ids) / 2
	if rev2, err := n2.ClaimAll(ids[:half]); err != nil || rev2 <= rev1 {
		t.Fatalf("n2's takeover ClaimAll = %d, %v; want a revision after %d", rev2, err, rev1)
	}
	if err := n1.ReleaseAll(ids); err != nil {
		t.Fatal(err)
	}
	if got := owners(); got["n2"] != half || got[""] != len(ids)-half || len(got) != 2 {
		t.Fatalf("owners after n1 released all: %v; want %d taken over by n2, the rest none", got, half)
	}
	tooMany := clientIDs(store.SessionBatch + 1)
	if _, err := n1.ClaimAll(tooMany); err == nil {
		t.Fatal("ClaimAll took more than SessionBatch client IDs")
	}
	if err := n1.ReleaseAll(tooMany); err == nil {
		t.Fatal("ReleaseAll took more than SessionBatch client IDs")
	}
	if o, err := n1.Owner(tooMany[len(tooMany)-1]); err != nil || o != "" {
		t.Fatalf("the refused batch claimed %q (%v)", o, err)
	}
}

// BenchmarkSessionClaims claims SessionBatch client IDs per iteration, one
// transaction each or all in one, as a connect storm's claims are written.
func BenchmarkSessionClaims(b *testing.B) {
	ids := clientIDs(store.SessionBatch)
	for _, per := range []int{1, store.SessionBatch} {
		b.Run(fmt.Sprintf("per_txn=%d", per), func(b *testing.B) {
			reg := openRegistry(b, freshPrefix(), "n1")
			for b.Loop() {
				for i := 0; i < len(ids); i += per {
					if _, err := reg.ClaimAll(ids[i : i+per]); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ids)), "ns/claim")
		})
	}
}
