package ui

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/store"
)

// Golden views at fixed sizes; the Ascii profile set in TestMain is also
// what NO_COLOR=1 renders, so these files double as the no-colour check:
// every state must read as a word. Update with: go test ./ui -update
func TestGolden(t *testing.T) {
	sizes := [][2]int{{80, 24}, {120, 40}}
	views := map[string]func(t *testing.T, m *Model, f *fakeBackend, clk *fixedClock){
		"home":         func(_ *testing.T, m *Model, _ *fakeBackend, _ *fixedClock) { press(m, "0") },
		"home_dev1":    func(_ *testing.T, m *Model, _ *fakeBackend, _ *fixedClock) { press(m, "0", "j") },
		"home_suspend": func(_ *testing.T, m *Model, _ *fakeBackend, _ *fixedClock) { press(m, "0", "j", "s") },
		"home_dropped": withHomeDrop,
		"home_create":  func(_ *testing.T, m *Model, _ *fakeBackend, _ *fixedClock) { press(m, "0", "n") },
		"command":      func(_ *testing.T, m *Model, _ *fakeBackend, _ *fixedClock) { press(m, ":", "revoke dev1", "enter") },
		"hostile_cn":   withHostileCN,
		"certs":        func(*testing.T, *Model, *fakeBackend, *fixedClock) {},
		"connections":  withSparklines,
		"transports":   func(_ *testing.T, m *Model, _ *fakeBackend, _ *fixedClock) { press(m, "3") },
		"activity":     func(_ *testing.T, m *Model, _ *fakeBackend, _ *fixedClock) { press(m, "4") },
		"trust":        func(_ *testing.T, m *Model, _ *fakeBackend, _ *fixedClock) { press(m, "5") },
		"details":      func(_ *testing.T, m *Model, _ *fakeBackend, _ *fixedClock) { press(m, "enter") },
		"create_form":  func(_ *testing.T, m *Model, _ *fakeBackend, _ *fixedClock) { press(m, "n") },
		"created":      func(_ *testing.T, m *Model, _ *fakeBackend, _ *fixedClock) { press(m, "n", "enter") },
		"revoke":       func(_ *testing.T, m *Model, _ *fakeBackend, _ *fixedClock) { press(m, "x") },
		"filter":       func(_ *testing.T, m *Model, _ *fakeBackend, _ *fixedClock) { press(m, "/", "d", "e", "v") },
		"full_help":    func(_ *testing.T, m *Model, _ *fakeBackend, _ *fixedClock) { press(m, "?") },
		"mtls_on":      func(_ *testing.T, m *Model, _ *fakeBackend, _ *fixedClock) { press(m, "3", "down", "m") },
		"export":       func(_ *testing.T, m *Model, _ *fakeBackend, _ *fixedClock) { press(m, "5", "e") },
		"telemetry":    func(_ *testing.T, m *Model, _ *fakeBackend, _ *fixedClock) { press(m, "6") },
		"tele_chart":   func(_ *testing.T, m *Model, _ *fakeBackend, _ *fixedClock) { press(m, "6", "enter") },
		"tele_more":    func(_ *testing.T, m *Model, _ *fakeBackend, _ *fixedClock) { press(m, "6", "G", "enter") },
		"dropped":      withDrop,
		"error":        withError,
		"policy":       withPolicy(store.StarterPolicy(), "7"),
		"policy_test":  withPolicyTest,
		"policy_open":  withPolicy(store.Policy{Default: "allow"}, "3"),
		"policy_home":  withPolicy(store.Policy{Default: "allow"}, "0"),
		"rights":       withPolicy(store.StarterPolicy(), "enter"),
		"denied":       withDenied,
		"created_git":  withGitWarning,
	}
	for name, setup := range views {
		for _, sz := range sizes {
			t.Run(fmt.Sprintf("%s_%dx%d", name, sz[0], sz[1]), func(t *testing.T) {
				f := newFake()
				m, clk := loaded(t, f, sz[0], sz[1])
				setup(t, m, f, clk)
				view := m.View()
				requireSize(t, view, sz[0], sz[1])
				golden.RequireEqual(t, []byte(view))
			})
		}
	}
}

// withSparklines feeds three more snapshots, two seconds apart, with
// growing counters, and switches to the connections view.
func withSparklines(t *testing.T, m *Model, f *fakeBackend, clk *fixedClock) {
	for i, in := range []uint64{20, 80, 10} {
		clk.Advance(2 * time.Second)
		f.snap.Sessions[0].MsgsIn += in
		f.snap.Sessions[1].MsgsIn += uint64(i)
		s, _ := f.Snapshot(context.Background())
		m.Update(snapshotMsg{snap: s})
	}
	press(m, "2")
}

func withDrop(_ *testing.T, m *Model, _ *fakeBackend, _ *fixedClock) {
	press(m, "2")
	ch := subscribed(m)
	deliver(m, ch, broker.Event{At: t0, Type: broker.EventDisconnected, Reason: "suspended by operator",
		ClientID: "dev1-b", Serial: "3f2a9c1b7d5e4a01", CertID: "3f2a9c1b7d5e4a01/" + issuerHash, CN: "dev1", Transport: "wss", Remote: "10.0.0.6:50124"})
}

// withHomeDrop suspends dev1 from the home view: its two sessions linger
// struck through with their cause beside the certificate, and the strip
// shows the refusal of its retry.
func withHomeDrop(_ *testing.T, m *Model, _ *fakeBackend, _ *fixedClock) {
	ch := subscribed(m)
	press(m, "0", "j", "s", "y")
	const serial = "3f2a9c1b7d5e4a01"
	deliver(m, ch,
		broker.Event{At: t0, Type: broker.EventCertState, Serial: serial, CertID: dev1ID, CN: "dev1", From: "active", To: "suspended",
			Reason: "active -> suspended"},
		broker.Event{At: t0, Type: broker.EventDisconnected, Reason: "suspended by operator", ClientID: "dev1-a",
			Serial: serial, CertID: dev1ID, CN: "dev1", Transport: "mqtts", Remote: "10.0.0.5:50123"},
		broker.Event{At: t0, Type: broker.EventDisconnected, Reason: "suspended by operator", ClientID: "dev1-b",
			Serial: serial, CertID: dev1ID, CN: "dev1", Transport: "wss", Remote: "10.0.0.6:50124"},
		broker.Event{At: t0, Type: broker.EventRefused, Reason: "suspended", Serial: serial, CertID: dev1ID, CN: "dev1",
			Remote: "10.0.0.5:50200", Transport: "mqtts"})
}

// withHostileCN shows a certificate whose CN tries to clear the screen and
// recolour it: every view prints it escaped.
func withHostileCN(_ *testing.T, m *Model, f *fakeBackend, _ *fixedClock) {
	f.snap.Certs[0].CN = "\x1b[2J\x1b[31mFAKE"
	f.snap.Sessions[0].CN = f.snap.Certs[0].CN
	f.snap.Sessions[0].ClientID = "\x1b]0;owned\x07"
	s, _ := f.Snapshot(context.Background())
	m.Update(snapshotMsg{snap: s, full: true})
	press(m, "0", "j")
}

// withPolicy loads a snapshot holding pol, with denials counted for dev1,
// then presses keys.
func withPolicy(pol store.Policy, keys ...string) func(*testing.T, *Model, *fakeBackend, *fixedClock) {
	return func(_ *testing.T, m *Model, f *fakeBackend, _ *fixedClock) {
		f.snap.Policy = pol
		f.snap.Denials = map[string]uint64{dev1ID: 4}
		s, _ := f.Snapshot(context.Background())
		m.Update(snapshotMsg{snap: s, full: true})
		press(m, keys...)
	}
}

// withPolicyTest asks the policy view whether dev1 may subscribe to kp1/#.
func withPolicyTest(t *testing.T, m *Model, f *fakeBackend, clk *fixedClock) {
	withPolicy(store.StarterPolicy(), "7", "t")(t, m, f, clk)
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("cn:dev1 subscribe kp1/#")})
	press(m, "enter")
}

// withDenied shows on the home view a denial whose topic tries to clear
// the screen: the activity strip prints it escaped.
func withDenied(_ *testing.T, m *Model, _ *fakeBackend, _ *fixedClock) {
	ch := subscribed(m)
	const topic = "kp1/\x1b[2Jx"
	deliver(m, ch, broker.Event{At: t0, Type: broker.EventDenied, ClientID: "dev1-a", Serial: "3f2a9c1b7d5e4a01", CertID: dev1ID,
		CN: "dev1", Transport: "mqtts", Action: "publish", Topic: topic, Rule: "default",
		Reason: "publish " + topic + " denied by rule default"})
	press(m, "0")
}

// withGitWarning creates a certificate whose key went inside a git work
// tree: the panel and the status line say so.
func withGitWarning(_ *testing.T, m *Model, f *fakeBackend, _ *fixedClock) {
	f.createWarning = "client.key is inside the git work tree /src/app: add it to .gitignore or move it"
	press(m, "n", "enter")
}

func withError(_ *testing.T, m *Model, f *fakeBackend, _ *fixedClock) {
	f.failWith = fmt.Errorf("conflict: the record changed concurrently")
	press(m, "s")
}

// A model must render a full screen before any WindowSizeMsg (teatest and
// slow terminals), and follow a resize.
func TestGoldenBeforeWindowSize(t *testing.T) {
	m := New(newFake(), withClock(func() time.Time { return t0 }))
	view := m.View()
	requireSize(t, view, 80, 24)
	golden.RequireEqual(t, []byte(view))

	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	requireSize(t, m.View(), 120, 40)
}

func TestResizeFitsEverySize(t *testing.T) {
	for _, sz := range [][2]int{{60, 16}, {80, 24}, {132, 43}, {200, 60}} {
		for p := range pageCount {
			m, _ := loaded(t, newFake(), sz[0], sz[1], withStartPage(p))
			requireSize(t, m.View(), sz[0], sz[1])
		}
	}
}

// The active tab stays visible however narrow the window.
func TestTabsKeepActiveVisible(t *testing.T) {
	tests := map[string]struct {
		width int
		page  Page
		want  string
	}{
		"ok/padded when wide":   {120, PageTelemetry, " 5 Trust  [6 Telemetry]  7 Policy "},
		"ok/short names at 80":  {80, PageTelemetry, "1 Certs 2 Conns 3 Ports 4 Activity 5 Trust [6 Telemetry] 7 Policy"},
		"ok/numbers when tight": {60, PageTelemetry, "0 1 2 3 4 5 [6 Telemetry] 7"},
		"ok/home tab tight":     {40, PageHome, "[0 Home] 1 2 3 4 5 6 7"},
		"ok/policy at 80":       {80, PagePolicy, "5 Trust 6 Telemetry [7 Policy]"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			m, _ := loaded(t, newFake(), tt.width, 24, withStartPage(tt.page))
			if got := m.tabsView(); !strings.HasSuffix(got, tt.want) && !strings.HasPrefix(got, tt.want) {
				t.Fatalf("tabs = %q, want %q", got, tt.want)
			}
		})
	}
}

// requireSize checks that a view fills exactly w x h, so the footer sits at
// the bottom and nothing wraps.
func requireSize(t *testing.T, view string, w, h int) {
	t.Helper()
	lines := strings.Split(view, "\n")
	if len(lines) != h {
		t.Fatalf("view has %d lines, want %d:\n%s", len(lines), h, view)
	}
	for i, l := range lines {
		if lw := ansi.StringWidth(l); lw > w {
			t.Fatalf("line %d is %d wide, more than %d: %q", i, lw, w, l)
		}
	}
}

func TestTitleListeners(t *testing.T) {
	tests := map[string]struct {
		addrs []string
		want  string
	}{
		"ok/wildcards dropped":  {[]string{"0.0.0.0:8883", "[::]:8884", ":1883"}, "mqtts :8883 · wss :8884 · mqtt :1883 (no TLS)"},
		"ok/shared host once":   {[]string{"127.0.0.1:18883", "127.0.0.1:18884", "127.0.0.1:11883"}, "127.0.0.1 mqtts :18883 · wss :18884 · mqtt :11883 (no TLS)"},
		"ok/mixed hosts kept":   {[]string{"10.0.0.1:8883", "0.0.0.0:8884", "10.0.0.2:1883"}, "mqtts 10.0.0.1:8883 · wss :8884 · mqtt 10.0.0.2:1883 (no TLS)"},
		"ok/no broker no addrs": {[]string{"", "", ""}, "mqtts · wss · mqtt (no TLS)"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFake()
			for i, a := range tt.addrs {
				f.snap.Transports[i].Addr = a
			}
			m, _ := loaded(t, f, 200, 24)
			if got := m.listenersView(); got != tt.want {
				t.Fatalf("listeners = %q, want %q", got, tt.want)
			}
		})
	}
}

// With long addresses the listeners win the title and the description moves
// to the idle status line.
func TestTitleDescriptionMovesWhenNarrow(t *testing.T) {
	f := newFake()
	for i, a := range []string{"127.0.0.1:18883", "127.0.0.1:18884", "127.0.0.1:11883"} {
		f.snap.Transports[i].Addr = a
	}
	m, _ := loaded(t, f, 80, 24)
	v := m.View()
	title, _, _ := strings.Cut(v, "\n")
	requireContains(t, title, "mqtt :11883 (no TLS)")
	requireLacks(t, title, "fake backend")
	requireContains(t, v, "attached to fake backend")
}

// Text a device or certificate chose reaches no view raw: with the Ascii
// profile of the tests no view holds an escape byte at all, so one would be
// the CN's own, clearing and recolouring the operator's screen.
func TestDeviceTextIsEscaped(t *testing.T) {
	const hostile = "\x1b[2J\x1b[31mFAKE"
	f := newFake()
	f.snap.Certs[0].CN = hostile
	f.snap.Certs[0].Reason = hostile
	for i := range f.snap.Sessions {
		f.snap.Sessions[i].CN, f.snap.Sessions[i].ClientID = hostile, hostile+string(rune('a'+i))
	}
	for i := range f.snap.Events {
		f.snap.Events[i].CN, f.snap.Events[i].Reason = hostile, hostile
	}
	f.snap.Telemetry[0].ClientID, f.snap.Telemetry[0].Topic = hostile, hostile
	for _, keys := range [][]string{{"0"}, {"0", "j"}, {"0", "j", "s"}, {"1"}, {"1", "enter"}, {"1", "x"}, {"2"}, {"3"}, {"4"}, {"5"}, {"6"}, {"6", "enter"}} {
		m, _ := loaded(t, f, 120, 40)
		press(m, keys...)
		if view := m.View(); strings.Contains(view, "\x1b") {
			t.Fatalf("after %v the view holds a raw escape:\n%q", keys, view)
		}
	}
}

// The create form fits a 60x20 terminal and speaks keys, not flags.
func TestCreateFormFits60x20(t *testing.T) {
	m, _ := loaded(t, newFake(), 60, 20, withStartPage(PageHome))
	press(m, "n")
	view := m.View()
	requireSize(t, view, 60, 20)
	requireContains(t, view, "Common name", "Key type", "enter create", "esc cancel")
	requireLacks(t, view, "--cn", "--ttl", "--key", "--out")
	for _, l := range strings.Split(view, "\n") {
		if strings.ContainsAny(l, "│╭╰") && !strings.HasSuffix(strings.TrimRight(l, " "), "│") &&
			!strings.HasSuffix(strings.TrimRight(l, " "), "╮") && !strings.HasSuffix(strings.TrimRight(l, " "), "╯") {
			t.Fatalf("the dialog is cut at 60 columns:\n%s", view)
		}
	}
}
