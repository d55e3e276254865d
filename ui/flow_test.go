package ui

import (
	"bytes"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest"
)

// TestFlow drives the real bubbletea runtime with the fake backend through
// the tutorial without leaving the home view: suspend a certificate (asked,
// with what it drops), watch its sessions drop on the same screen,
// reactivate, revoke, create one, then quit.
func TestFlow(t *testing.T) {
	f := newFake()
	tm := teatest.NewTestModel(t, New(f, withClock(func() time.Time { return t0 })), teatest.WithInitialTermSize(80, 24))
	// Each wait consumes the output it read and the renderer repaints only
	// changed lines, so every wait looks for text that is new on screen.
	waitFor := func(want ...string) {
		t.Helper()
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
			for _, w := range want {
				if !bytes.Contains(b, []byte(w)) {
					return false
				}
			}
			return true
		}, teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
	}
	send := func(keys ...string) {
		for _, k := range keys {
			tm.Send(keyMsg(k))
		}
	}

	waitFor("fake backend", "[0 Home]", "dev1", "active")
	send("j", "s")
	waitFor("suspend dev1? drops 2 sessions")
	send("y")
	// the status line, and the dropped rows struck through with their cause
	waitFor("suspended dev1 (3f2a9c1b), dropped 2 sessions", "suspended by operator")

	send("a")
	waitFor("reactivated dev1 (3f2a9c1b)")

	send("x")
	waitFor("revoke dev1? final")
	send("y")
	waitFor("revoked dev1 (3f2a9c1b)")

	send("n", "d", "e", "v", "9", "enter")
	waitFor("not kept")

	send("esc", "q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	final := tm.FinalModel(t).(*Model)
	if final.ctx.Err() == nil {
		t.Fatal("quitting did not cancel the subscription context")
	}
	want := []string{
		`Transition 3f2a9c1b7d5e4a01/5a1e0c7d9b2f4e61 suspended ""`,
		`Transition 3f2a9c1b7d5e4a01/5a1e0c7d9b2f4e61 active ""`,
		`Transition 3f2a9c1b7d5e4a01/5a1e0c7d9b2f4e61 revoked ""`,
		`CreateCert cn=dev9 ttl= key=ecdsa-p256 out=`,
	}
	calls := f.Calls()
	for _, w := range want {
		found := false
		for _, c := range calls {
			found = found || c == w
		}
		if !found {
			t.Fatalf("calls = %q, missing %q", calls, w)
		}
	}
}

// TestTelemetryFlow opens the telemetry view in the real runtime, charts a
// client and goes back.
func TestTelemetryFlow(t *testing.T) {
	tm := teatest.NewTestModel(t, New(newFake(), withClock(func() time.Time { return t0 })),
		teatest.WithInitialTermSize(80, 24))
	waitFor := func(want string) {
		t.Helper()
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(want)) },
			teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
	}
	waitFor("fake backend")
	tm.Send(keyMsg("6"))
	waitFor("non-JSON payloads: 1.2 KiB, 0.5 msg/s")
	tm.Send(keyMsg("enter"))
	waitFor("last 16 values")
	tm.Send(keyMsg("esc"))
	waitFor("publishing clients")
	tm.Send(keyMsg("q"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}
