package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/etcdtest"
)

// The engine contract both engines keep, checked on each: empty values are
// present (not nil), scans see the transaction's own writes and deletes, in
// order either way from any key, and sequences count from 1 per bucket.
func TestEngineContract(t *testing.T) {
	srv, err := etcdtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	engines := map[string]func(t *testing.T) *Store{
		"bbolt": func(t *testing.T) *Store {
			s, err := Open(filepath.Join(t.TempDir(), "gatehouse.db"), Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"etcd": func(t *testing.T) *Store {
			s, err := OpenEtcd(EtcdConfig{Endpoints: srv.Endpoints(), Prefix: "/contract"})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	bucket := []byte("contract")
	scanned := func(t txn, from string, reverse bool) string {
		var f []byte
		if from != "" {
			f = []byte(from)
		}
		var out []string
		if err := t.scan(bucket, f, reverse, func(k, v []byte) (bool, error) {
			out = append(out, string(k)+"="+string(v))
			return true, nil
		}); err != nil {
			panic(err)
		}
		return strings.Join(out, " ")
	}
	for name, open := range engines {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			defer s.Close()
			err := s.update(func(t txn) error {
				for _, k := range []string{"b", "d", "f"} {
					if err := t.put(bucket, []byte(k), []byte(strings.ToUpper(k))); err != nil {
						return err
					}
				}
				return t.put(bucket, []byte("empty"), nil)
			})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			err = s.update(func(tx txn) error {
				got = got[:0]
				if err := tx.put(bucket, []byte("c"), []byte("C")); err != nil {
					return err
				}
				if err := tx.put(bucket, []byte("d"), []byte("D2")); err != nil {
					return err
				}
				if err := tx.del(bucket, []byte("f")); err != nil {
					return err
				}
				v, err := tx.get(bucket, []byte("empty"))
				if err != nil {
					return err
				}
				missing, err := tx.get(bucket, []byte("nope"))
				if err != nil {
					return err
				}
				got = append(got, fmt.Sprintf("empty nil=%v len=%d, missing nil=%v", v == nil, len(v), missing == nil),
					scanned(tx, "", false), scanned(tx, "c", false), scanned(tx, "cc", true), scanned(tx, "", true))
				n1, _ := tx.nextSequence(bucket)
				n2, err := tx.nextSequence(bucket)
				got = append(got, fmt.Sprint(n1, n2))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{
				"empty nil=false len=0, missing nil=true",
				"b=B c=C d=D2 empty=", "c=C d=D2 empty=", "c=C b=B", "empty= d=D2 c=C b=B",
				"1 2",
			}
			if strings.Join(got, " | ") != strings.Join(want, " | ") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// A node whose registry lease is lost (revoked here; in production expired
// while etcd was unreachable) takes a new lease and claims its sessions again.
func TestSessionRegistryReclaimsAfterLosingItsLease(t *testing.T) {
	srv, err := etcdtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	s, err := OpenEtcd(EtcdConfig{Endpoints: srv.Endpoints(), Prefix: "/reclaim"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reg, err := s.Sessions("n1", 5*time.Second, func(r *SessionRegistry) {
		if _, err := r.ClaimAll([]string{"dev"}); err != nil {
			t.Error(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if _, err := reg.ClaimAll([]string{"dev"}); err != nil {
		t.Fatal(err)
	}
	lost := reg.currentLease()
	if _, err := s.eng.(*etcdEngine).cli.Revoke(context.Background(), lost); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		owner, err := reg.Owner("dev")
		if err != nil {
			t.Fatal(err)
		}
		if owner == "n1" && reg.currentLease() != lost {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("owner %q and lease %x %v after the lease was lost", owner, reg.currentLease(), reg.currentLease() != lost)
		}
	}
}

// Claiming again after being cut off never takes a client ID from a node
// that claimed it meanwhile: that node holds the newer session.
func TestSessionRegistryReclaimLeavesANewerOwner(t *testing.T) {
	srv, err := etcdtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	open := func(node string) *SessionRegistry {
		s, err := OpenEtcd(EtcdConfig{Endpoints: srv.Endpoints(), Prefix: "/reclaim2"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		reg, err := s.Sessions(node, 5*time.Second, func(*SessionRegistry) {})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { reg.Close() })
		return reg
	}
	n1, n2 := open("n1"), open("n2")
	cases := map[string]struct {
		setup func(id string)
		want  string
	}{
		"unowned: claimed":             {func(string) {}, "n1"},
		"own entry: kept":              {func(id string) { mustClaim(t, n1, id) }, "n1"},
		"taken by another node: left":  {func(id string) { mustClaim(t, n2, id) }, "n2"},
		"taken over from n1 meanwhile": {func(id string) { mustClaim(t, n1, id); mustClaim(t, n2, id) }, "n2"},
	}
	idOf := func(name string) string { return "dev-" + strings.ReplaceAll(name, " ", "-") }
	var ids []string
	for name, tc := range cases {
		tc.setup(idOf(name))
		ids = append(ids, idOf(name))
	}
	// One batch for all the cases: each entry is judged on its own.
	_, taken, err := n1.ReclaimAll(ids)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			id := idOf(name)
			owner := "n1"
			if o, ok := taken[id]; ok {
				owner = o
			}
			if stored, err := n1.Owner(id); err != nil || owner != tc.want || stored != tc.want {
				t.Fatalf("ReclaimAll says %q, registry holds %q (%v); want %q", owner, stored, err, tc.want)
			}
		})
	}
}

func mustClaim(t *testing.T, r *SessionRegistry, id string) {
	t.Helper()
	if _, err := r.ClaimAll([]string{id}); err != nil {
		t.Fatal(err)
	}
}

// A lifecycle change on etcd never queues behind this process's event-log
// writer: an append slowed by etcd (held here by its lock) must not delay a
// suspend.
func TestEtcdUpdateDoesNotWaitForTheEventLog(t *testing.T) {
	srv, err := etcdtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	s, err := OpenEtcd(EtcdConfig{Endpoints: srv.Endpoints(), Prefix: "/lanes", Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e := s.eng.(*etcdEngine)
	e.logMu.Lock()
	appended := make(chan error, 1)
	go func() {
		_, err := s.AppendEvents([]EventEntry{{At: time.Now(), Data: []byte("x")}}, EventRetention{}, time.Now())
		appended <- err
	}()
	done := make(chan error, 1)
	go func() {
		done <- s.CreateCert(Cert{ID: "0a", Serial: "0a", CN: "dev", State: StateInactive}, AuditRecord{Actor: "test", Action: "cert.create"})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a certificate write waited for the event-log writer")
	}
	e.logMu.Unlock()
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
}

// A write queued behind another (held here by the engine's lock) is refused
// as soon as the probe found etcd unreachable, and never waits longer than
// the timeout in all, queueing included: when etcd stops answering, writes
// in the queue do not each wait for their own timeout in turn.
func TestEtcdQueuedWriteIsBoundedAndRefusedOffline(t *testing.T) {
	srv, err := etcdtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for name, tc := range map[string]struct {
		offline bool
		want    string
	}{
		"etcd found unreachable while queued": {offline: true, want: ErrUnreachable.Error()},
		"queued past the timeout":             {want: "etcd did not answer within 300ms"},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := OpenEtcd(EtcdConfig{Endpoints: srv.Endpoints(), Prefix: "/queued/" + strings.ReplaceAll(name, " ", "-"), Timeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			e := s.eng.(*etcdEngine)
			e.mu.Lock()
			done := make(chan error, 1)
			go func() {
				done <- s.CreateCert(Cert{ID: "0a", Serial: "0a", CN: "dev", State: StateInactive}, AuditRecord{Actor: "test", Action: "cert.create"})
			}()
			time.Sleep(400 * time.Millisecond) // past the timeout, the write still queued
			if tc.offline {
				e.health.mu.Lock()
				e.health.down, e.health.since = true, time.Now()
				e.health.mu.Unlock()
			}
			e.mu.Unlock()
			if err := <-done; err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("queued write: %v, want an error saying %q", err, tc.want)
			}
			e.health.mu.Lock()
			e.health.down = false
			e.health.mu.Unlock()
			if _, err := s.GetCert("0a"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("the refused write left a record: %v", err)
			}
		})
	}
}

// A check of an etcd store that etcd does not answer is no verdict: Verify
// returns the error and no findings, so that doctor never calls a store
// damaged (and advises a restore) because etcd was slow or away.
func TestEtcdVerifyUnansweredIsNotDamage(t *testing.T) {
	srv, err := etcdtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	s, err := OpenEtcd(EtcdConfig{Endpoints: srv.Endpoints(), Prefix: "/verify"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if fs, err := s.Verify(); err != nil || len(fs) == 0 {
		t.Fatalf("Verify of a healthy etcd store: %v, %v", fs, err)
	}
	e := s.eng.(*etcdEngine)
	e.health.mu.Lock()
	e.health.down, e.health.since = true, time.Now()
	e.health.mu.Unlock()
	if fs, err := s.Verify(); !errors.Is(err, ErrUnreachable) || fs != nil {
		t.Fatalf("Verify with etcd unreachable: findings %+v, err %v; want no findings and ErrUnreachable", fs, err)
	}
}

// The same when etcd stops answering in the middle of the check, which no
// probe has noticed (doctor runs none): the reads that time out are no
// verdict either, and the check stops at the first.
func TestEtcdVerifyTimedOutIsNotDamage(t *testing.T) {
	srv, err := etcdtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenEtcd(EtcdConfig{Endpoints: srv.Endpoints(), Prefix: "/verify-gone", Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv.Close()
	if fs, err := s.Verify(); !errors.Is(err, context.DeadlineExceeded) || fs != nil {
		t.Fatalf("Verify with etcd gone: findings %+v, err %v; want no findings and a timeout", fs, err)
	}
}

// A bulk read that etcd compacts under it fails with ErrCompacted, which a
// node takes for a reason to read again, not for damage.
func TestEtcdReadOfACompactedRevisionIsErrCompacted(t *testing.T) {
	srv, err := etcdtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	s, err := OpenEtcd(EtcdConfig{Endpoints: srv.Endpoints(), Prefix: "/compacted"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e := s.eng.(*etcdEngine)
	err = s.view(func(t txn) error {
		if _, err := t.get(bucketMeta, keySchema); err != nil { // pins the snapshot's revision
			return err
		}
		if err := s.update(func(t txn) error { return t.put(bucketMeta, []byte("x"), []byte("1")) }); err != nil {
			return err
		}
		head, err := e.cli.Get(context.Background(), "x")
		if err != nil {
			return err
		}
		if _, err := e.cli.Compact(context.Background(), head.Header.Revision); err != nil {
			return err
		}
		_, err = t.get(bucketMeta, keySchema)
		return err
	})
	if !errors.Is(err, ErrCompacted) || !Unanswered(err) {
		t.Fatalf("a read of a compacted revision: %v, want ErrCompacted", err)
	}
}
