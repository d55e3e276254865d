package app

import (
	"context"
	"testing"
)

// Suspending an issuer drops exactly its fleet's live sessions at once and
// refuses them on reconnect; another issuer's devices stay.
func TestSuspendIssuerDropsItsFleet(t *testing.T) {
	a, addr := openTestApp(t)
	ctx := context.Background()
	if _, err := a.CreateIssuer(ctx, "tenant-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateIssuer(ctx, "Bad Name"); err == nil {
		t.Fatal("a malformed issuer name was accepted")
	}
	fleet, err := a.IssueClient(ctx, IssueRequest{CN: "a-1", Issuer: "tenant-a"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := a.IssueClient(ctx, IssueRequest{CN: "d-1"})
	if err != nil {
		t.Fatal(err)
	}
	tenant := connectWith(t, addr, fleet, fleet.KeyPEM, "a-1")
	dflt := connectWith(t, addr, other, other.KeyPEM, "d-1")
	res, err := a.SuspendIssuer(ctx, "tenant-a", true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Dropped != 1 || !res.CA.Suspended {
		t.Fatalf("SuspendIssuer: %+v", res)
	}
	waitFor(t, "tenant-a's device to drop", func() bool { return !tenant.IsConnectionOpen() })
	if !dflt.IsConnectionOpen() {
		t.Fatal("the default issuer's device was dropped too")
	}
	if _, err := a.SuspendIssuer(ctx, "tenant-a", false); err != nil {
		t.Fatal(err)
	}
	connectWith(t, addr, fleet, fleet.KeyPEM, "a-1b")
}
