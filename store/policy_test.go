package store_test

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/gatehouse/gatehouse/store"
)

func ids(p store.Policy) []string {
	var out []string
	for _, r := range p.Rules {
		out = append(out, r.ID)
	}
	return out
}

func TestNewStoreStartsWithStarterPolicy(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open opener) {
		s := open(t)
		p, err := s.Policy()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(p, store.StarterPolicy()) || p.Default != "deny" {
			t.Fatalf("policy = %+v, want the starter policy", p)
		}
	})
}

// A store written before schema 2 (no policy bucket) gets the starter policy
// when it is opened, not an open broker.
func TestUpgradeFromSchema1SeedsPolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{"meta", "ca", "certs", "settings", "audit"} {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte("1"))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := s.Policy()
	if err != nil || !reflect.DeepEqual(p, store.StarterPolicy()) {
		t.Fatalf("policy = %+v, %v; want the starter policy", p, err)
	}
}

func TestPolicyEdits(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open opener) {
		s := open(t)
		audit := store.AuditRecord{Actor: "alice", Action: "acl.add"}
		r3, err := s.AddRule(store.Rule{ID: "ignored", Effect: "allow", Action: "subscribe", Topic: "kp1/#", Who: "cn:backend-*"}, audit)
		if err != nil || r3.ID != "r3" {
			t.Fatalf("AddRule = %+v, %v; want id r3", r3, err)
		}
		if _, err := s.MoveRule("r3", "r1", store.AuditRecord{Actor: "alice", Action: "acl.move"}); err != nil {
			t.Fatal(err)
		}
		p, _ := s.Policy()
		if got := ids(p); !reflect.DeepEqual(got, []string{"r3", "r1", "r2"}) {
			t.Fatalf("after move: %v", got)
		}
		if _, err := s.MoveRule("r3", "r3", store.AuditRecord{Actor: "alice", Action: "acl.move"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.MoveRule("r1", "r9", store.AuditRecord{Actor: "alice"}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("move before a missing rule: %v", err)
		}
		if _, err := s.RemoveRule("r1", store.AuditRecord{Actor: "alice", Action: "acl.remove"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RemoveRule("r1", store.AuditRecord{Actor: "alice"}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second remove: %v", err)
		}
		r4, _ := s.AddRule(store.Rule{Effect: "deny", Action: "publish", Topic: "x", Who: "any"}, audit)
		if r4.ID != "r4" {
			t.Fatalf("ids must never be reused: got %s", r4.ID)
		}
		if _, err := s.SetPolicyDefault("allow", store.AuditRecord{Actor: "bob", Action: "acl.default"}); err != nil {
			t.Fatal(err)
		}
		p, _ = s.Policy()
		if got := ids(p); p.Default != "allow" || !reflect.DeepEqual(got, []string{"r3", "r2", "r4"}) {
			t.Fatalf("policy = %+v", p)
		}
		recs, err := s.ListAudit(store.AuditQuery{})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, a := range recs {
			actions = append(actions, a.Actor+" "+a.Action+" "+a.Detail)
		}
		want := []string{
			"bob acl.default deny -> allow",
			"alice acl.add r4: deny publish x who any",
			"alice acl.remove r1: allow pubsub kp1/+/+/${cn}/# who any",
			"alice acl.move r3 before r3",
			"alice acl.move r3 before r1",
			"alice acl.add r3: allow subscribe kp1/# who cn:backend-*",
		}
		if !reflect.DeepEqual(actions, want) {
			t.Fatalf("audit =\n%q\nwant\n%q", actions, want)
		}
	})
}
