package store

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/etcdtest"
)

// A key another writer deletes from a range a transaction scanned leaves no
// mod revision to compare; the bucket's deletion mark makes the commit fail
// anyway, so the transaction runs again on a snapshot without the key and
// never commits what it computed from the stale scan.
func TestEtcdScanSeesRacingDeletion(t *testing.T) {
	srv, err := etcdtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	open := func() *Store {
		s, err := OpenEtcd(EtcdConfig{Endpoints: srv.Endpoints(), Prefix: "/phantom"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(), open()
	bucket, sum := []byte("phantom"), []byte("seen")
	if err := a.update(func(t txn) error {
		for _, k := range []string{"k1", "k2", "k3"} {
			if err := t.put(bucket, []byte(k), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	runs := 0
	err = a.update(func(t txn) error {
		runs++
		var seen []string
		if err := forEach(t, bucket, func(k, _ []byte) error { seen = append(seen, string(k)); return nil }); err != nil {
			return err
		}
		if runs == 1 { // another node deletes a scanned key before A commits
			if err := b.update(func(t txn) error { return t.del(bucket, []byte("k2")) }); err != nil {
				return err
			}
		}
		return t.put(bucketMeta, sum, []byte(strings.Join(seen, ",")))
	})
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := b.view(func(t txn) error {
		raw, err := t.get(bucketMeta, sum)
		got = string(raw)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if runs != 2 || got != "k1,k3" {
		t.Fatalf("after a racing deletion: %d runs, committed %q; want 2 runs and k1,k3", runs, got)
	}
}
