package pki_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
	"github.com/gatehouse/gatehouse/store"
)

// TestTransitions walks every (from, to) pair of stored states, named
// "ok/inactive->active" or "fail/revoked->active", through CanTransition and
// Authority.Transition, checking store, snapshot and audit.
func TestTransitions(t *testing.T) {
	allowed := map[string]string{ // DESIGN.md section 3, restated independently of the package's table
		"inactive->active":    "cert.activate",
		"inactive->suspended": "cert.suspend",
		"inactive->revoked":   "cert.revoke",
		"active->suspended":   "cert.suspend",
		"active->revoked":     "cert.revoke",
		"suspended->active":   "cert.reactivate",
		"suspended->revoked":  "cert.revoke",
	}
	a, st := pkitest.New(t)
	tests := map[string]struct{ from, to store.State }{}
	for _, from := range allStates {
		for _, to := range allStates {
			edge := fmt.Sprintf("%s->%s", from, to)
			prefix := "fail/"
			if _, ok := allowed[edge]; ok {
				prefix = "ok/"
			}
			tests[prefix+edge] = struct{ from, to store.State }{from, to}
		}
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			edge := fmt.Sprintf("%s->%s", tc.from, tc.to)
			action, ok := allowed[edge]
			if got := pki.CanTransition(tc.from, tc.to); got != ok {
				t.Fatalf("CanTransition = %v, want %v", got, ok)
			}
			serial := certIn(t, a, tc.from)
			c, err := a.Transition(serial, tc.to, "alice", "because", 3)
			if !ok {
				if !errors.Is(err, pki.ErrTransition) {
					t.Fatalf("err = %v, want ErrTransition", err)
				}
				want := fmt.Sprintf("cannot move certificate %s from %s to %s: ", strings.Split(serial, "/")[0], tc.from, tc.to)
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("message %q lacks %q", err, want)
				}
				if s, _ := a.State(serial); s != tc.from {
					t.Fatalf("snapshot moved to %s", s)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.State != tc.to || c.Reason != "because" {
				t.Fatalf("returned %+v", c)
			}
			if s, _ := a.State(serial); s != tc.to {
				t.Fatalf("snapshot = %s, want %s", s, tc.to)
			}
			stored, err := st.GetCert(serial)
			if err != nil || stored.State != tc.to {
				t.Fatalf("stored %+v, %v", stored, err)
			}
			audit, err := st.ListAudit(store.AuditQuery{CertID: serial, Limit: 1})
			if err != nil || len(audit) != 1 {
				t.Fatalf("audit %v, %v", audit, err)
			}
			if got := audit[0]; got.Action != action || got.Actor != "alice" || got.From != tc.from || got.To != tc.to || got.Dropped != 3 || got.Reason != "because" {
				t.Fatalf("audit = %+v, want action %s", got, action)
			}
		})
	}
}

func TestTransitionMessages(t *testing.T) {
	a, _ := pkitest.New(t)
	revoked := certIn(t, a, store.StateRevoked)
	suspended := certIn(t, a, store.StateSuspended)
	for name, tc := range map[string]struct {
		serial string
		to     store.State
		want   string
	}{
		"fail/revoked-is-final": {revoked, store.StateActive, "from revoked to active: revoked is final"},
		"fail/same-state":       {suspended, store.StateSuspended, "it is already suspended"},
		"fail/back-to-inactive": {suspended, store.StateInactive, "never returns to inactive"},
		"fail/not-a-state":      {suspended, "expired", "not a lifecycle state change"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := a.Transition(tc.serial, tc.to, "test", "", 0)
			if !errors.Is(err, pki.ErrTransition) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrTransition containing %q", err, tc.want)
			}
		})
	}
	if _, err := a.Transition("abcdef", store.StateRevoked, "test", "", 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown serial: %v", err)
	}
}

// A second Authority over the same store has its own snapshot: a write it
// makes between our read and our compare-and-swap must surface as a conflict
// or be re-read, never silently overwritten.
func TestTransitionSeesOtherWriters(t *testing.T) {
	a, st := pkitest.New(t)
	serial := certIn(t, a, store.StateActive)
	other, err := pki.Init(st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Transition(serial, store.StateRevoked, "bob", "stolen", 0); err != nil {
		t.Fatal(err)
	}
	// a's snapshot still says active, but Transition reads the store.
	_, err = a.Transition(serial, store.StateSuspended, "alice", "", 0)
	if !errors.Is(err, pki.ErrTransition) || !strings.Contains(err.Error(), "revoked is final") {
		t.Fatalf("err = %v, want the revoked state to win", err)
	}
	// The store-level compare-and-swap with a stale expectation is a conflict.
	if _, err := st.Transition(serial, store.StateActive, store.StateSuspended, store.AuditRecord{}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale CAS: %v, want ErrConflict", err)
	}
}

func TestOnChange(t *testing.T) {
	type change struct {
		serial string
		state  store.State
		action string
	}
	var got []change
	a, _ := pkitest.New(t, pki.WithOnChange(func(c store.Cert, r store.AuditRecord) {
		got = append(got, change{c.ID, c.State, r.Action})
	}))
	iss := pkitest.Issue(t, a, "dev")
	if err := authorize(a, chainOf(t, pkitest.ClientTLS(t, iss))); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Transition(iss.Cert.ID, store.StateRevoked, "test", "", 0); err != nil {
		t.Fatal(err)
	}
	s := iss.Cert.ID
	want := []change{{s, store.StateInactive, "cert.create"}, {s, store.StateActive, "cert.activate"}, {s, store.StateRevoked, "cert.revoke"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
}

func TestOperatorCan(t *testing.T) {
	tests := map[string]struct {
		from, to store.State
		want     bool
	}{
		"ok/suspend active":       {store.StateActive, store.StateSuspended, true},
		"ok/reactivate suspended": {store.StateSuspended, store.StateActive, true},
		"ok/revoke inactive":      {store.StateInactive, store.StateRevoked, true},
		"fail/activate inactive":  {store.StateInactive, store.StateActive, false},
		"fail/reactivate revoked": {store.StateRevoked, store.StateActive, false},
		"fail/suspend suspended":  {store.StateSuspended, store.StateSuspended, false},
		"fail/back to inactive":   {store.StateActive, store.StateInactive, false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := pki.OperatorCan(tt.from, tt.to); got != tt.want {
				t.Fatalf("OperatorCan(%s, %s) = %v, want %v", tt.from, tt.to, got, tt.want)
			}
		})
	}
}
