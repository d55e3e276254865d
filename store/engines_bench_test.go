package store_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/store"
)

// BenchmarkTransition is one lifecycle compare-and-swap with its audit
// record, committed, on each engine. The embedded etcd of the tests does not
// fsync (etcdtest), the bbolt file does: compare shapes, not absolutes.
func BenchmarkTransition(b *testing.B) {
	for _, e := range []struct {
		name string
		open opener
	}{{"bbolt", openTemp}, {"etcd", openEtcd}} {
		b.Run(e.name, func(b *testing.B) {
			s := e.open(b)
			mustCreate(b, s, testCert("0a", "dev"))
			from, to := store.StateInactive, store.StateSuspended
			for b.Loop() {
				if _, err := s.Transition("0a", from, to, store.AuditRecord{Actor: "bench"}); err != nil {
					b.Fatal(err)
				}
				from, to = to, from
			}
		})
	}
}
