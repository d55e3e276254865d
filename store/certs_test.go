package store_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

func TestTransition(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open opener) {
		s := open(t)
		mustCreate(t, s, testCert("0a", "dev"))
		at := time.Now().Truncate(time.Second)
		c, err := s.Transition("0a", store.StateInactive, store.StateActive,
			store.AuditRecord{At: at, Actor: "broker", Action: "cert.activate", Reason: "first use"})
		if err != nil {
			t.Fatal(err)
		}
		if c.State != store.StateActive || !c.FirstSeen.Equal(at) || !c.LastSeen.Equal(at) || !c.StateChangedAt.Equal(at) || c.Reason != "first use" {
			t.Fatalf("after activation: %+v", c)
		}
		later := at.Add(time.Hour)
		c, err = s.Transition("0a", store.StateActive, store.StateSuspended, store.AuditRecord{At: later, Actor: "alice", Action: "cert.suspend", Dropped: 2})
		if err != nil {
			t.Fatal(err)
		}
		if !c.FirstSeen.Equal(at) || !c.StateChangedAt.Equal(later) {
			t.Fatalf("FirstSeen must survive later transitions: %+v", c)
		}
		if stored, _ := s.GetCert("0a"); stored.State != store.StateSuspended {
			t.Fatalf("stored state %s", stored.State)
		}
		_, err = s.Transition("0a", store.StateActive, store.StateRevoked, store.AuditRecord{})
		if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "state is suspended") {
			t.Fatalf("stale from: %v, want ErrConflict naming suspended", err)
		}
		if _, err := s.Transition("ff", store.StateActive, store.StateRevoked, store.AuditRecord{}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing: %v", err)
		}
		audit, err := s.ListAudit(store.AuditQuery{Serial: "0a"})
		if err != nil || len(audit) != 3 {
			t.Fatalf("audit = %+v, %v", audit, err)
		}
		if a := audit[0]; a.Action != "cert.suspend" || a.From != store.StateActive || a.To != store.StateSuspended || a.CN != "dev" || a.Dropped != 2 {
			t.Fatalf("newest audit = %+v", a)
		}
	})
}

// Concurrent writers race from the same state: exactly one compare-and-swap
// wins, every other one gets ErrConflict, and only the winner is audited.
func TestTransitionConflict(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open opener) {
		s := open(t)
		mustCreate(t, s, testCert("0b", "dev"))
		const writers = 16
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for i := range writers {
			wg.Go(func() {
				to := store.StateSuspended
				if i%2 == 0 {
					to = store.StateRevoked
				}
				_, errs[i] = s.Transition("0b", store.StateInactive, to, store.AuditRecord{Actor: fmt.Sprint(i)})
			})
		}
		wg.Wait()
		requireOneWinner(t, errs)
		if audit, _ := s.ListAudit(store.AuditQuery{Serial: "0b"}); len(audit) != 2 {
			t.Fatalf("%d audit records, want create + one transition", len(audit))
		}
	})
}

func TestResolveSerial(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open opener) {
		s := open(t)
		for _, serial := range []string{"03e8", "abcdef0123", "abcdef0456", "abcdee9999", "1234567890ab", "04673c77aa"} {
			mustCreate(t, s, testCert(serial, "dev-"+serial))
		}
		for name, tc := range map[string]struct {
			in, want  string
			ambiguous bool
			notFound  bool
			errText   string
		}{
			"ok/exact":                 {in: "abcdef0123", want: "abcdef0123"},
			"ok/exact-shorter-than-6":  {in: "03e8", want: "03e8"},
			"ok/old-form-exact":        {in: "3e8", want: "03e8"},
			"ok/openssl-text-colons":   {in: "AB:CD:EF:01:23", want: "abcdef0123"},
			"ok/openssl-serial-upper":  {in: "04673C77AA", want: "04673c77aa"},
			"ok/old-form-prefix":       {in: "4673c77", want: "04673c77aa"},
			"ok/odd-prefix":            {in: "04673c7", want: "04673c77aa"},
			"ok/unique-prefix":         {in: "123456", want: "1234567890ab"},
			"ok/uppercase":             {in: "ABCDEF04", want: "abcdef0456"},
			"ok/surrounding-space":     {in: " 1234567 ", want: "1234567890ab"},
			"fail/ambiguous":           {in: "abcdef", ambiguous: true},
			"fail/not-found":           {in: "999999", notFound: true},
			"fail/too-short":           {in: "abcd", errText: "too short: give at least 6"},
			"fail/not-hex":             {in: "xyz123", errText: "not hexadecimal"},
			"fail/empty":               {in: "", errText: "not hexadecimal"},
			"fail/prefix-of-none-long": {in: "abcdef01234", notFound: true},
		} {
			t.Run(name, func(t *testing.T) {
				got, err := s.ResolveSerial(tc.in)
				var amb *store.AmbiguousError
				switch {
				case tc.want != "":
					if err != nil || got != tc.want {
						t.Fatalf("= %q, %v; want %q", got, err, tc.want)
					}
				case tc.ambiguous:
					if !errors.As(err, &amb) || len(amb.Candidates) != 2 || !strings.Contains(err.Error(), "abcdef0123, abcdef0456") {
						t.Fatalf("want AmbiguousError listing both, got %v", err)
					}
				case tc.notFound:
					if !errors.Is(err, store.ErrNotFound) {
						t.Fatalf("want ErrNotFound, got %q, %v", got, err)
					}
				default:
					if err == nil || !strings.Contains(err.Error(), tc.errText) {
						t.Fatalf("want error containing %q, got %q, %v", tc.errText, got, err)
					}
				}
			})
		}
	})
}

func TestResolveSerialCandidatesBounded(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open opener) {
		s := open(t)
		for i := range 25 {
			mustCreate(t, s, testCert(fmt.Sprintf("facade%02d", i), "d"))
		}
		_, err := s.ResolveSerial("facade")
		var amb *store.AmbiguousError
		if !errors.As(err, &amb) || len(amb.Candidates) != 11 || amb.Candidates[10] != "..." {
			t.Fatalf("want 10 candidates and an ellipsis, got %v", err)
		}
	})
}

func TestListCertsPaging(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open opener) {
		s := open(t)
		states := []store.State{store.StateInactive, store.StateActive, store.StateSuspended}
		for i := range 25 {
			c := testCert(fmt.Sprintf("%04x", i), fmt.Sprintf("%s-%02d", []string{"cam", "door"}[i%2], i))
			c.State = states[i%3]
			mustCreate(t, s, c)
		}
		for name, tc := range map[string]struct {
			q     store.CertQuery
			pages []int
		}{
			"ok/all-unpaged":         {store.CertQuery{}, []int{25}},
			"ok/pages-of-10":         {store.CertQuery{Limit: 10}, []int{10, 10, 5}},
			"ok/exact-fit":           {store.CertQuery{Limit: 5}, []int{5, 5, 5, 5, 5}},
			"ok/state-filter":        {store.CertQuery{State: store.StateActive, Limit: 3}, []int{3, 3, 2}},
			"ok/cn-prefix":           {store.CertQuery{CNPrefix: "door", Limit: 6}, []int{6, 6}},
			"ok/both-filters":        {store.CertQuery{CNPrefix: "cam", State: store.StateSuspended, Limit: 100}, []int{4}},
			"ok/no-match":            {store.CertQuery{State: store.StateRevoked, Limit: 10}, []int{0}},
			"ok/cursor-between-keys": {store.CertQuery{After: "0013x", Limit: 10}, []int{5}},
		} {
			t.Run(name, func(t *testing.T) {
				q := tc.q
				var got []int
				prev := q.After
				for {
					page, next, err := s.ListCerts(q)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, len(page))
					for _, c := range page {
						if c.Serial <= prev {
							t.Fatalf("serial %s not after %s", c.Serial, prev)
						}
						prev = c.Serial
						if (q.State != "" && c.State != q.State) || !strings.HasPrefix(c.CN, q.CNPrefix) {
							t.Fatalf("%+v does not match %+v", c, q)
						}
					}
					if next == "" {
						break
					}
					if next != page[len(page)-1].Serial {
						t.Fatalf("next cursor %q is not the last serial", next)
					}
					q.After = next
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.pages) {
					t.Fatalf("page sizes %v, want %v", got, tc.pages)
				}
			})
		}
	})
}

func TestStates(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open opener) {
		s := open(t)
		const n = 2500
		for i := range n {
			mustCreate(t, s, testCert(fmt.Sprintf("%05x", i), "d"))
		}
		if _, err := s.Transition("00007", store.StateInactive, store.StateSuspended, store.AuditRecord{Action: "test"}); err != nil {
			t.Fatal(err)
		}
		states, err := s.States()
		if err != nil || len(states) != n {
			t.Fatalf("%d states, %v", len(states), err)
		}
		for i, cs := range states {
			want := store.StateInactive
			if i == 7 {
				want = store.StateSuspended
			}
			if cs.Serial != fmt.Sprintf("%05x", i) || cs.State != want || cs.Fingerprint != strings.Repeat("0", 64) {
				t.Fatalf("state %d: %+v", i, cs)
			}
		}
	})
}

// Two CAs may issue the same serial: the records are distinct, the serial
// alone is ambiguous and lists both IDs, and each ID resolves.
func TestSameSerialFromTwoIssuers(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open opener) {
		s := open(t)
		a, b := testCert("1004", "ours"), testCert("1004", "partner")
		a.ID, b.ID = store.CertID("1004", []byte("issuer A")), store.CertID("1004", []byte("issuer B"))
		mustCreate(t, s, a, b, testCert("100400", "longer"))
		if a.ID == b.ID {
			t.Fatal("two issuers, one ID")
		}
		_, err := s.ResolveSerial("1004")
		var amb *store.AmbiguousError
		if !errors.As(err, &amb) || len(amb.Candidates) != 2 {
			t.Fatalf("ResolveSerial(1004) = %v, want both IDs (and not the longer serial)", err)
		}
		for _, c := range []store.Cert{a, b} {
			if got, err := s.ResolveSerial(strings.ToUpper(c.ID)); err != nil || got != c.ID {
				t.Fatalf("ResolveSerial(%s) = %q, %v", c.ID, got, err)
			}
		}
		if _, err := s.Transition(b.ID, store.StateInactive, store.StateSuspended, store.AuditRecord{Action: "cert.suspend"}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetCert(a.ID); got.State != store.StateInactive {
			t.Fatalf("suspending the partner's 1004 changed ours: %s", got.State)
		}
		if recs, _ := s.ListAudit(store.AuditQuery{CertID: b.ID}); len(recs) != 2 || recs[0].CertID != b.ID {
			t.Fatalf("audit by ID: %+v", recs)
		}
	})
}

// requireOneWinner checks the outcome of writers racing for one
// transition: exactly one succeeded, every other lost with ErrConflict.
func requireOneWinner(t *testing.T, errs []error) {
	t.Helper()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("loser got %v, want ErrConflict", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d writers won, want 1", won)
	}
}
