package store_test

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatehouse/gatehouse/internal/etcdtest"
	"github.com/gatehouse/gatehouse/store"
)

// opener opens a fresh, empty store that the test's cleanup closes.
type opener func(testing.TB) *store.Store

// The embedded etcd that every etcd subtest of this package shares, each
// under a key prefix of its own; started by the first one that needs it.
var (
	etcdOnce   sync.Once
	etcdServer *etcdtest.Server
	etcdErr    error
	etcdStores atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if etcdServer != nil {
		etcdServer.Close()
	}
	os.Exit(code)
}

// etcdEndpoints starts the shared etcd if needed.
func etcdEndpoints(t testing.TB) []string {
	t.Helper()
	etcdOnce.Do(func() { etcdServer, etcdErr = etcdtest.Start() })
	if etcdErr != nil {
		t.Fatal(etcdErr)
	}
	return etcdServer.Endpoints()
}

// freshPrefix is a key prefix no other test uses.
func freshPrefix() string { return fmt.Sprintf("/test/%d", etcdStores.Add(1)) }

// openEtcdAt opens the store under prefix on the shared etcd.
func openEtcdAt(t testing.TB, prefix string) *store.Store {
	t.Helper()
	s, err := store.OpenEtcd(store.EtcdConfig{Endpoints: etcdEndpoints(t), Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func openEtcd(t testing.TB) *store.Store { return openEtcdAt(t, freshPrefix()) }

// forEachEngine runs fn as one subtest per engine, bbolt and etcd, with the
// engine's opener: the store's behaviour must not depend on what holds it.
func forEachEngine(t *testing.T, fn func(t *testing.T, open opener)) {
	for _, e := range []struct {
		name string
		open opener
	}{{"bbolt", openTemp}, {"etcd", openEtcd}} {
		t.Run(e.name, func(t *testing.T) { fn(t, e.open) })
	}
}
