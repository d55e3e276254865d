package ui

import (
	"context"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/store"
)

// withSnapshot loads a snapshot of f after change ran on it.
func withSnapshot(t *testing.T, m *Model, f *fakeBackend, change func(*fakeBackend)) {
	t.Helper()
	change(f)
	s, err := f.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m.Update(snapshotMsg{snap: s, full: true})
}

// The title and the Transports view show the posture; a policy that lets
// every device use every topic is called out.
func TestPolicyPosture(t *testing.T) {
	tests := map[string]struct {
		pol       store.Policy
		title, tx string
	}{
		"ok/starter denies": {store.StarterPolicy(), "policy default deny", "policy default deny: rules decide"},
		"ok/open to all":    {store.Policy{Default: "allow"}, "policy OPEN", "! policy OPEN: every device may use every topic (Policy view, key 7)"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFake()
			m, _ := loaded(t, f, 160, 30, withStartPage(PageTransports))
			withSnapshot(t, m, f, func(f *fakeBackend) { f.snap.Policy = tt.pol })
			requireContains(t, m.titleView(), tt.title)
			requireContains(t, m.View(), tt.tx)
		})
	}
}

// The details of a certificate list what the policy lets it do and its
// denials, counted by certificate ID.
func TestDetailsShowRights(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 120, 40)
	withSnapshot(t, m, f, func(f *fakeBackend) {
		f.snap.Policy = store.StarterPolicy()
		f.snap.Denials = map[string]uint64{dev1ID: 7, "3f2a9c1b7d5e4a01": 99}
	})
	press(m, "enter")
	requireContains(t, m.View(), "Rights (policy)", "otherwise deny · 7 denied since the broker started")
}

// A viewer's Policy view offers no edits and calls nothing.
func TestReadOnlyPolicyPage(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 120, 30, WithReadOnly())
	withSnapshot(t, m, f, func(f *fakeBackend) { f.snap.Policy = store.StarterPolicy() })
	press(m, "7", "d", "a", "x")
	requireContains(t, m.View(), "read-only: the policy cannot be changed from here")
	if calls := f.Calls(); len(calls) != 0 {
		t.Fatalf("a read-only Policy view called %q", calls)
	}
}

// An edit's answer reaches the Policy view even when the operator has
// moved to another view, and a snapshot brings the new posture.
func TestPolicyAnswerAfterLeaving(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 160, 30)
	withSnapshot(t, m, f, func(f *fakeBackend) { f.snap.Policy = store.StarterPolicy() })
	press(m, ":", "policy", "enter")
	if m.page != PagePolicy {
		t.Fatalf(":policy opened %v", m.page)
	}
	_, cmd := m.Update(keyMsg("d"))
	settle(m, cmd)
	_, cmd = m.Update(keyMsg("y"))
	press(m, "1") // leave before the answer comes
	settle(m, cmd)
	if !slices.Contains(f.Calls(), "SetPolicyDefault allow") {
		t.Fatalf("calls = %q", f.Calls())
	}
	requireContains(t, m.titleView(), "policy OPEN")
	press(m, "7")
	requireContains(t, m.View(), "default allow")
}
