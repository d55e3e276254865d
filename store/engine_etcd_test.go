package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gatehouse/gatehouse/store"
)

// Two processes (two clients) on one etcd store race for the same record:
// the optimistic transactions retry, exactly one transition wins, the
// others get ErrConflict, and no write is lost on the shared audit sequence.
func TestEtcdRaceAcrossClients(t *testing.T) {
	prefix := freshPrefix()
	nodes := []*store.Store{openEtcdAt(t, prefix), openEtcdAt(t, prefix)}
	mustCreate(t, nodes[0], testCert("0b", "dev"))
	const perNode = 8
	var wg sync.WaitGroup
	errs := make([]error, 2*perNode)
	for i := range errs {
		s := nodes[i%2]
		wg.Go(func() {
			_, errs[i] = s.Transition("0b", store.StateInactive, store.StateSuspended, store.AuditRecord{Actor: fmt.Sprint(i)})
		})
		wg.Go(func() {
			c := testCert(fmt.Sprintf("c%02d", i), "dev")
			if err := s.CreateCert(c, store.AuditRecord{Actor: "test", Action: "cert.create"}); err != nil {
				t.Errorf("create %s: %v", c.ID, err)
			}
		})
	}
	wg.Wait()
	requireOneWinner(t, errs)
	audit, err := nodes[1].ListAudit(store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + 1 + len(errs); len(audit) != want {
		t.Fatalf("%d audit records, want %d (a create per writer, the first create, one transition)", len(audit), want)
	}
	for i, a := range audit {
		if a.Seq != uint64(len(audit)-i) {
			t.Fatalf("audit sequence has a gap or a duplicate at %d: %d", i, a.Seq)
		}
	}
}

// A transaction sees its own writes in scans, across the pages a scan reads
// from etcd: appending more events than one page and trimming them in the
// same transaction keeps exactly the newest, in order.
func TestEtcdScanMergesOwnWritesAcrossPages(t *testing.T) {
	s := openEtcd(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for round := range 2 {
		batch := make([]store.EventEntry, 300)
		for i := range batch {
			batch[i] = store.EventEntry{At: t0, Data: fmt.Appendf(nil, "e%d", round*300+i)}
		}
		if _, err := s.AppendEvents(batch, store.EventRetention{Keep: 400}, t0); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListEvents(time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 400 || string(got[0].Data) != "e200" || string(got[399].Data) != "e599" {
		t.Fatalf("kept %d events, %s..%s; want 400, e200..e599", len(got), got[0].Data, got[len(got)-1].Data)
	}
	for i, e := range got {
		if want := fmt.Sprintf("e%d", 200+i); string(e.Data) != want {
			t.Fatalf("event %d is %s, want %s", i, e.Data, want)
		}
	}
}

func TestOpenEtcd(t *testing.T) {
	endpoints := etcdEndpoints(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	tests := map[string]struct {
		setup   func(t *testing.T, prefix string)
		cfg     store.EtcdConfig
		wantErr string
		check   func(t *testing.T, s *store.Store)
	}{
		"ok/reopen keeps records and migrates nothing again": {
			setup: func(t *testing.T, prefix string) {
				s := openEtcdAt(t, prefix)
				mustCreate(t, s, testCert("01", "kept"))
				if _, err := s.SetPolicyDefault("allow", store.AuditRecord{Actor: "test"}); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, s *store.Store) {
				if c, err := s.GetCert("01"); err != nil || c.CN != "kept" {
					t.Fatalf("after reopen: %+v, %v", c, err)
				}
				if p, err := s.Policy(); err != nil || p.Default != "allow" {
					t.Fatalf("policy after reopen: %+v, %v", p, err)
				}
			},
		},
		"ok/read-only reads and refuses writes": {
			setup: func(t *testing.T, prefix string) { mustCreate(t, openEtcdAt(t, prefix), testCert("01", "kept")) },
			cfg:   store.EtcdConfig{ReadOnly: true},
			check: func(t *testing.T, s *store.Store) {
				if _, err := s.GetCert("01"); err != nil {
					t.Fatal(err)
				}
				if err := s.CreateCert(testCert("02", "new"), store.AuditRecord{}); err == nil || !strings.Contains(err.Error(), "read-only") {
					t.Fatalf("write on a read-only store: %v", err)
				}
			},
		},
		"ok/doctor checks records, not pages": {
			check: func(t *testing.T, s *store.Store) {
				for _, f := range mustVerify(t, s) {
					if !f.OK || (f.Check == "pages" && !strings.Contains(f.Detail, "not applicable")) {
						t.Errorf("finding %+v", f)
					}
				}
			},
		},
		"ok/backup says it does not apply": {
			check: func(t *testing.T, s *store.Store) {
				if _, err := s.Backup(io.Discard); !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "etcdctl snapshot save") {
					t.Fatalf("Backup = %v, want ErrUnsupported naming etcdctl", err)
				}
			},
		},
		"fail/foreign keys under the prefix": {
			setup: func(t *testing.T, prefix string) {
				if _, err := cli.Put(context.Background(), prefix+"/something/else", "x"); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "corrupt",
		},
		"fail/read-only of an empty prefix": {cfg: store.EtcdConfig{ReadOnly: true}, wantErr: "bad schema version"},
		"fail/newer schema": {
			setup: func(t *testing.T, prefix string) {
				if _, err := cli.Put(context.Background(), prefix+"/meta/schema_version", "99"); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "upgrade gatehouse",
		},
		"fail/unreachable etcd is an error, not a hang": {
			cfg:     store.EtcdConfig{Endpoints: []string{"http://127.0.0.1:1"}, Timeout: 300 * time.Millisecond},
			wantErr: "etcd did not answer within 300ms",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			prefix := freshPrefix()
			if tc.setup != nil {
				tc.setup(t, prefix)
			}
			cfg := tc.cfg
			cfg.Prefix = prefix
			if cfg.Endpoints == nil {
				cfg.Endpoints = endpoints
			}
			s, err := store.OpenEtcd(cfg)
			if tc.wantErr != "" {
				if err == nil {
					s.Close()
					t.Fatalf("OpenEtcd succeeded, want an error containing %q", tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) || strings.Count(err.Error(), "\n") > 0 {
					t.Fatalf("OpenEtcd = %v, want one line containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			tc.check(t, s)
		})
	}
}

func TestBlockedKeys(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open opener) {
		s := open(t)
		at := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
		for _, k := range []store.BlockedKey{
			{SPKI: "bb", Serial: "02", CN: "two", At: at},
			{SPKI: "aa", Serial: "01", CN: "one", At: at},
			{SPKI: "bb", Serial: "03", CN: "again", At: at.Add(time.Hour)}, // already blocked: the first record stays
		} {
			if err := s.BlockKey(k); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.BlockKey(store.BlockedKey{Serial: "04"}); err == nil {
			t.Fatal("a key without an SPKI hash was blocked")
		}
		got, err := s.BlockedKeys()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].SPKI != "aa" || got[1].SPKI != "bb" || got[1].Serial != "02" || !got[1].At.Equal(at) {
			t.Fatalf("blocked keys %+v", got)
		}
	})
}

// A node watching an etcd store sees, by key, what another node commits to
// the records nodes apply, with the values written and their revisions, and
// nothing of the audit log or the event log.
func TestWatchReportsOtherNodesChanges(t *testing.T) {
	prefix := freshPrefix()
	writer, watcher := openEtcdAt(t, prefix), openEtcdAt(t, prefix)
	got, stop := watchChanges(t, watcher, func(store.Change) bool { return true })
	mustCreate(t, writer, testCert("0c", "dev"))
	suspended, err := writer.Transition("0c", store.StateInactive, store.StateSuspended, store.AuditRecord{Actor: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writer.UpdateSettings(func(s *store.Settings) error { s.SANs = []string{"x"}; return nil }, store.AuditRecord{}); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.SetPolicyDefault("allow", store.AuditRecord{}); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.AppendEvents([]store.EventEntry{{At: time.Now(), Data: []byte("e")}}, store.EventRetention{}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := writer.BlockKey(store.BlockedKey{SPKI: "ab", Serial: "0c"}); err != nil {
		t.Fatal(err)
	}
	want := []store.Change{
		{Kind: store.ChangedCert, Key: "0c"}, {Kind: store.ChangedCert, Key: "0c"},
		{Kind: store.ChangedSettings, Key: "settings"},
		{Kind: store.ChangedPolicy, Key: "default"}, {Kind: store.ChangedPolicy, Key: "rules"},
		{Kind: store.ChangedBlockedKeys, Key: "ab"},
	}
	var seen, written []store.Change
	timeout := time.After(10 * time.Second)
	for len(seen) < len(want) {
		select {
		case c := <-got:
			written = append(written, c)
			seen = append(seen, store.Change{Kind: c.Kind, Key: c.Key})
		case <-timeout:
			t.Fatalf("changes seen %+v, want %+v", seen, want)
		}
	}
	// The policy's two keys come in one transaction, in no set order.
	if seen[3].Key > seen[4].Key {
		seen[3], seen[4] = seen[4], seen[3]
	}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("changes seen %+v, want %+v", seen, want)
	}
	// The certificate's two writes, each as written: the watcher needs no read.
	for i, w := range []struct {
		state store.State
		rev   int64 // 0: not known to the writer
	}{{store.StateInactive, 0}, {store.StateSuspended, suspended.Revision}} {
		c, err := store.DecodeCert(written[i])
		if err != nil || c.ID != "0c" || c.State != w.state || c.Revision != written[i].Rev || (w.rev != 0 && c.Revision != w.rev) {
			t.Fatalf("certificate change %d decodes to %s %s at revision %d (%v), want %s at %d", i, c.ID, c.State, c.Revision, err, w.state, w.rev)
		}
	}
	if written[0].Rev >= written[1].Rev || suspended.Revision == 0 {
		t.Fatalf("revisions %d then %d, Transition said %d: not in commit order", written[0].Rev, written[1].Rev, suspended.Revision)
	}
	if _, err := store.DecodeCert(written[2]); err == nil {
		t.Fatal("DecodeCert decoded a settings change")
	}
	if _, err := store.DecodeCert(store.Change{Kind: store.ChangedCert, Key: "0c"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DecodeCert of a deletion = %v, want ErrNotFound", err)
	}
	stop()
	if err := openTemp(t).Watch(context.Background(), func([]store.Change) error { return nil }); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Watch on bbolt = %v, want ErrUnsupported", err)
	}
}

// A node watching an etcd store gets a token subject's writes as they were
// written, each with its revision: the transition's is the one
// TransitionSubject returned, so that a node can tell its own commits from
// older records coming back through the watch.
func TestWatchDecodesTokenSubjectsWithRevisions(t *testing.T) {
	prefix := freshPrefix()
	writer, watcher := openEtcdAt(t, prefix), openEtcdAt(t, prefix)
	got, stop := watchChanges(t, watcher, func(c store.Change) bool { return c.Kind == store.ChangedTokenSubject })
	defer stop()
	now := time.Now().Truncate(time.Second)
	if err := writer.IssueToken(store.IssuedToken{JTI: "j1", Subject: "d1", IssuedAt: now, Expires: now.Add(time.Hour)}, store.AuditRecord{At: now}); err != nil {
		t.Fatal(err)
	}
	suspended, err := writer.TransitionSubject("d1", store.StateActive, store.StateSuspended, store.AuditRecord{At: now})
	if err != nil {
		t.Fatal(err)
	}
	var subs []store.TokenSubject
	for range 2 {
		select {
		case ch := <-got:
			sub, err := store.DecodeTokenSubject(ch)
			if err != nil || sub.Subject != "d1" || sub.Revision != ch.Rev || ch.Rev == 0 {
				t.Fatalf("token subject change %+v decodes to %+v, %v", ch, sub, err)
			}
			subs = append(subs, sub)
		case <-time.After(10 * time.Second):
			t.Fatalf("token subject changes seen: %+v, want 2", subs)
		}
	}
	if subs[0].State != store.StateActive || subs[1].State != store.StateSuspended || subs[1].Revision != suspended.Revision || subs[0].Revision >= subs[1].Revision {
		t.Fatalf("token subject changes %+v, the transition committed at %d", subs, suspended.Revision)
	}
	if _, err := store.DecodeTokenSubject(store.Change{Kind: store.ChangedTokenSubject, Key: "d1"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DecodeTokenSubject of a deletion = %v, want ErrNotFound", err)
	}
}

// An append that etcd refuses part way through (here the second of its
// transactions: an entry larger than etcd takes in one request) says how
// many entries, from the first, are in the log, so that the caller keeps
// only the rest and writing them again duplicates none.
func TestEtcdAppendEventsSaysHowManyAreIn(t *testing.T) {
	s := openEtcd(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	batch := entries(t0, 200, time.Second)
	batch[150].Data = make([]byte, 2<<20) // past etcd's 1.5 MiB request limit
	n, err := s.AppendEvents(batch, store.EventRetention{}, t0)
	if err == nil {
		t.Fatal("an entry larger than etcd's request limit was appended")
	}
	got, lerr := s.ListEvents(time.Time{}, 0)
	if lerr != nil {
		t.Fatal(lerr)
	}
	if n == 0 || n > 150 || len(got) != n {
		t.Fatalf("AppendEvents says %d are in (err %v); the log holds %d", n, err, len(got))
	}
	if _, err := s.AppendEvents(batch[n:150], store.EventRetention{}, t0); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.ListEvents(time.Time{}, 0); fmt.Sprint(datas(got)) != fmt.Sprint(datas(batch[:150])) {
		t.Fatalf("after writing the rest again the log holds %d entries, want the first 150 once each", len(got))
	}
}

// A change the watcher failed to apply (its callback's error: a read etcd
// did not answer) is delivered again, with the same revision, and the
// watch goes on after it: nothing is skipped.
func TestWatchDeliversAgainWhatFnFailedToApply(t *testing.T) {
	prefix := freshPrefix()
	writer, watcher := openEtcdAt(t, prefix), openEtcdAt(t, prefix)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := make(chan store.Change, 100)
	failed := false
	go watcher.Watch(ctx, func(cs []store.Change) error {
		for _, c := range cs {
			seen <- c
		}
		if !failed {
			failed = true
			return errors.New("etcd read timed out")
		}
		return nil
	})
	mustCreate(t, writer, testCert("0d", "dev"))
	next := func() store.Change {
		select {
		case c := <-seen:
			return c
		case <-time.After(10 * time.Second):
			t.Fatal("no change delivered")
			return store.Change{}
		}
	}
	first, again := next(), next()
	if first.Key != "0d" || again.Key != "0d" || again.Rev != first.Rev {
		t.Fatalf("delivered %s@%d then %s@%d, want 0d twice at one revision", first.Key, first.Rev, again.Key, again.Rev)
	}
	mustCreate(t, writer, testCert("0e", "dev"))
	if c := next(); c.Key != "0e" {
		t.Fatalf("after the retry the watch delivered %s@%d, want 0e", c.Key, c.Rev)
	}
}

// watchChanges runs watcher's Watch and hands over the changes keep
// selects; stop ends the watch and fails the test unless Watch returned nil.
func watchChanges(t *testing.T, watcher *store.Store, keep func(store.Change) bool) (got <-chan store.Change, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan store.Change, 100)
	done := make(chan error, 1)
	go func() {
		done <- watcher.Watch(ctx, func(cs []store.Change) error {
			for _, c := range cs {
				if keep(c) {
					ch <- c
				}
			}
			return nil
		})
	}()
	return ch, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch returned %v after its context ended", err)
		}
	}
}
