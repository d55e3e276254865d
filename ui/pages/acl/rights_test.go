package acl

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/policy"
	"github.com/gatehouse/gatehouse/store"
)

// The details view's rights follow the broker: cert:ID rules name one
// certificate, ca:NAME rules its issuer by identity, not by a copied CN.
func TestRightsFollowCertIDAndIssuer(t *testing.T) {
	pol := store.Policy{Default: "deny", Rules: []store.Rule{
		{ID: "r1", Effect: "allow", Action: "pubsub", Topic: "mine/#", Who: "cert:3f2a9c/aaaaaaaaaaaaaaaa"},
		{ID: "r2", Effect: "allow", Action: "subscribe", Topic: "fleet/#", Who: "ca:tenant-a"},
	}}
	issuers := policy.Issuers{"tenant-a": {"aaaaaaaaaaaaaaaa"}}
	ours := store.Cert{ID: "3f2a9c/aaaaaaaaaaaaaaaa", Serial: "3f2a9c", CN: "dev1", Issuer: "tenant-a"}
	lookalike := store.Cert{ID: "3f2a9c/bbbbbbbbbbbbbbbb", Serial: "3f2a9c", CN: "dev1", Issuer: "tenant-a"}
	if got := strings.Join(Rights(pol, issuers, ours, 0), "\n"); !strings.Contains(got, "mine/#") || !strings.Contains(got, "fleet/#") {
		t.Errorf("our certificate's rights:\n%s", got)
	}
	if got := strings.Join(Rights(pol, issuers, lookalike, 0), "\n"); strings.Contains(got, "mine/#") || strings.Contains(got, "fleet/#") {
		t.Errorf("another CA's certificate with the same serial and issuer CN borrows rights:\n%s", got)
	}
}
