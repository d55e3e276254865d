package ui

import (
	"errors"
	"slices"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

func TestPageSwitching(t *testing.T) {
	tests := map[string]struct {
		keys []string
		want Page
	}{
		"ok/tab moves right":           {[]string{"tab"}, PageConnections},
		"ok/tab reaches telemetry":     {[]string{"tab", "tab", "tab", "tab", "tab"}, PageTelemetry},
		"ok/tab reaches policy":        {[]string{"tab", "tab", "tab", "tab", "tab", "tab"}, PagePolicy},
		"ok/tab cycles round":          {[]string{"tab", "tab", "tab", "tab", "tab", "tab", "tab", "tab"}, PageCertificates},
		"ok/shift+tab to home":         {[]string{"shift+tab"}, PageHome},
		"ok/shift+tab wraps left":      {[]string{"shift+tab", "shift+tab"}, PagePolicy},
		"ok/shift+tab to telemetry":    {[]string{"shift+tab", "shift+tab", "shift+tab"}, PageTelemetry},
		"ok/7 opens policy":            {[]string{"7"}, PagePolicy},
		"ok/command jumps to policy":   {[]string{":", "policy", "enter"}, PagePolicy},
		"ok/0 goes home":               {[]string{"4", "0"}, PageHome},
		"ok/h goes home":               {[]string{"2", "h"}, PageHome},
		"ok/command jumps":             {[]string{":", "c", "e", "r", "t", "s", "enter"}, PageCertificates},
		"ok/command burst jumps":       {[]string{":", "activity", "enter"}, PageActivity},
		"ok/number jumps":              {[]string{"4"}, PageActivity},
		"ok/6 opens telemetry":         {[]string{"6"}, PageTelemetry},
		"ok/numbers jump back and on":  {[]string{"5", "1", "3"}, PageTransports},
		"ok/keys of a page do nothing": {[]string{"2", "s"}, PageConnections},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			m, _ := loaded(t, newFake(), 80, 24)
			press(m, tt.keys...)
			if m.page != tt.want {
				t.Fatalf("page = %v, want %v", m.page, tt.want)
			}
			requireContains(t, m.View(), "["+string(rune('0'+tt.want))+" "+tt.want.String()+"]")
		})
	}
}

func TestStartPage(t *testing.T) {
	m, _ := loaded(t, newFake(), 80, 24, withStartPage(PageTransports))
	requireContains(t, m.View(), "[3 Transports]", "CLIENT-CERT AUTH")
}

// The cursor starts on dev1 (active, newest); each row below has another state.
func TestBindingsFollowSelectedState(t *testing.T) {
	tests := map[string]struct {
		down       int
		enabled    []string
		notEnabled []string
	}{
		"ok/active":    {0, []string{"s suspend", "x revoke"}, []string{"a reactivate"}},
		"ok/suspended": {1, []string{"a reactivate", "x revoke"}, []string{"s suspend"}},
		"ok/inactive":  {2, []string{"s suspend", "x revoke"}, []string{"a reactivate"}},
		"ok/revoked":   {4, nil, []string{"s suspend", "a reactivate", "x revoke"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			m, _ := loaded(t, newFake(), 100, 30)
			for range tt.down {
				press(m, "down")
			}
			help := m.help.View(m.helpKeys())
			requireContains(t, help, tt.enabled...)
			requireLacks(t, help, tt.notEnabled...)
		})
	}
}

func TestDisabledKeyDoesNothing(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 80, 24)
	press(m, "a") // dev1 is active: reactivate does not apply
	if calls := f.Calls(); len(calls) != 0 {
		t.Fatalf("backend called: %v", calls)
	}
	if m.status.text != "" {
		t.Fatalf("status = %q, want empty", m.status.text)
	}
}

func TestSuspendReportsResult(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 80, 24)
	press(m, "s")
	if want := `Transition 3f2a9c1b7d5e4a01/5a1e0c7d9b2f4e61 suspended ""`; !slices.Contains(f.Calls(), want) {
		t.Fatalf("calls = %v, want %s", f.Calls(), want)
	}
	v := m.View()
	requireContains(t, v, "suspended dev1 (3f2a9c1b), dropped 2 sessions")
	// The row shows the new state, and reactivate is now the applicable action.
	requireContains(t, v, "dev1                                suspended", "a reactivate")
}

func TestActionErrorInStatusLine(t *testing.T) {
	f := newFake()
	f.failWith = errors.New("conflict: the record changed concurrently")
	m, _ := loaded(t, f, 80, 24)
	press(m, "s")
	requireContains(t, m.View(), "error: suspend dev1 (3f2a9c1b): conflict")
	if !m.status.err {
		t.Fatal("status is not an error")
	}
}

func TestRevokeAsksConfirmation(t *testing.T) {
	tests := map[string]struct {
		answer    string
		wantCalls int
	}{
		"ok/n cancels":   {"n", 0},
		"ok/esc cancels": {"esc", 0},
		"ok/y revokes":   {"y", 1},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFake()
			m, _ := loaded(t, f, 80, 24)
			press(m, "x")
			requireContains(t, m.View(), "Revoke dev1 (3f2a9c1b)?", "This is final", "2 live sessions will be dropped")
			press(m, "q") // captured by the dialog: must not quit
			if m.ctx.Err() != nil {
				t.Fatal("q quit from inside the dialog")
			}
			press(m, tt.answer)
			if got := len(f.Calls()); got != tt.wantCalls {
				t.Fatalf("calls = %v", f.Calls())
			}
			requireLacks(t, m.View(), "This is final")
			if tt.wantCalls == 1 {
				requireContains(t, m.View(), "revoked dev1 (3f2a9c1b), dropped 2 sessions")
			}
		})
	}
}

func TestFilterNarrowsRows(t *testing.T) {
	m, _ := loaded(t, newFake(), 80, 24)
	press(m, "/")
	typeText(m, "sens")
	v := m.View()
	requireContains(t, v, "sensor-7", "1 of 5")
	requireLacks(t, v, "dev1", "old-gw")

	press(m, "enter") // applied: keys act on the table again
	press(m, "s")
	requireContains(t, m.View(), "suspended sensor-7 (5d0e8812)")

	press(m, "esc")
	requireContains(t, m.View(), "dev1", "old-gw", "5 certificates")
}

func TestFilterMatchesStateAndSerial(t *testing.T) {
	for query, want := range map[string]string{"expired": "legacy", "a1b2": "old-gw", "SUSP": "dev2"} {
		m, _ := loaded(t, newFake(), 80, 24)
		press(m, "/")
		typeText(m, query)
		if c, ok := m.certs.Selected(); !ok || c.CN != want || !strings.Contains(m.View(), "1 of 5") {
			t.Fatalf("filter %q: selected %q, want only %q:\n%s", query, c.CN, want, m.View())
		}
	}
}

// The connections filter matches client id, CN, serial, transport and
// remote address, ignoring case.
func TestConnectionsFilter(t *testing.T) {
	tests := map[string]struct {
		query      string
		want, lack []string
		count      string
	}{
		"ok/client id":       {"ANON", []string{"anon-1"}, []string{"dev1-a", "dev1-b"}, "1 of 3"},
		"ok/cn":              {"dev1", []string{"dev1-a", "dev1-b"}, []string{"anon-1"}, "2 of 3"},
		"ok/serial":          {"3f2a9c", []string{"dev1-a", "dev1-b"}, []string{"anon-1"}, "2 of 3"},
		"ok/transport":       {"mqtts", []string{"dev1-a"}, []string{"dev1-b", "anon-1"}, "1 of 3"},
		"ok/remote":          {"10.0.0.6", []string{"dev1-b"}, []string{"dev1-a", "anon-1"}, "1 of 3"},
		"ok/nothing matches": {"nope", nil, []string{"dev1-a", "dev1-b", "anon-1"}, "0 of 3"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			m, _ := loaded(t, newFake(), 80, 24, withStartPage(PageConnections))
			press(m, "/")
			typeText(m, tt.query)
			v := m.View()
			requireContains(t, v, append(tt.want, "/ "+tt.query, tt.count)...)
			requireLacks(t, v, tt.lack...)

			press(m, "enter")
			requireContains(t, m.View(), "filter: "+tt.query+"  (/ edit, esc clear)  "+tt.count, "esc clear filter")
			press(m, "esc")
			v = m.View()
			requireContains(t, v, "3 live sessions", "dev1-a", "dev1-b", "anon-1", "/ filter")
			requireLacks(t, v, "filter:", "clear filter")
		})
	}
}

// While typing, every key goes to the filter; esc drops it at once.
func TestConnectionsFilterCapturesKeys(t *testing.T) {
	m, _ := loaded(t, newFake(), 80, 24, withStartPage(PageConnections))
	press(m, "/", "q", "1")
	if m.ctx.Err() != nil || m.page != PageConnections {
		t.Fatal("a global key acted while typing a filter")
	}
	requireContains(t, m.View(), "/ q1", "0 of 3", "enter apply filter")
	press(m, "esc")
	requireContains(t, m.View(), "3 live sessions", "dev1-a")
	if m.active().Capturing() {
		t.Fatal("still capturing after esc")
	}
}

func TestCreateFormSubmitsDefaults(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 80, 24)
	press(m, "n")
	requireContains(t, m.View(), "New client certificate", "365d", "ecdsa-p256", "./<cn>/")
	press(m, "q", "enter") // q is typed into the CN field, not a quit
	if len(f.created) != 1 || f.created[0] != (app.CreateRequest{CN: "q", KeyType: "ecdsa-p256"}) {
		t.Fatalf("created = %+v", f.created)
	}

	m, _ = loaded(t, f, 80, 24)
	press(m, "n", "enter")
	if got := f.created[1]; got != (app.CreateRequest{KeyType: "ecdsa-p256"}) {
		t.Fatalf("request = %+v, want blanks and the default key type", got)
	}
	v := m.View()
	requireContains(t, v, "Created device-1 (c0ffee42)", "./device-1/ca.pem", "./device-1/client.crt",
		"./device-1/client.key", "not kept")
	press(m, "enter")
	c, _ := m.certs.Selected()
	if c.CN != "device-1" {
		t.Fatalf("selected %q after create, want the new certificate", c.CN)
	}
}

func TestCreateFormFields(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 80, 24)
	press(m, "n")
	typeText(m, "dev9")
	press(m, "tab")
	typeText(m, "90d")
	press(m, "tab", "right", "right", "tab")
	typeText(m, "/tmp/out")
	press(m, "enter")
	want := app.CreateRequest{CN: "dev9", TTL: "90d", KeyType: "rsa-3072", OutDir: "/tmp/out"}
	if len(f.created) != 1 || f.created[0] != want {
		t.Fatalf("created = %+v, want %+v", f.created, want)
	}
}

func TestCreateFailureReopensForm(t *testing.T) {
	f := newFake()
	f.failWith = errors.New(`bad TTL "3x"`)
	m, _ := loaded(t, f, 80, 24)
	press(m, "n", "tab")
	typeText(m, "3x")
	press(m, "enter")
	v := m.View()
	requireContains(t, v, "New client certificate", `error: bad TTL "3x"`)
	if !strings.Contains(m.status.text, "create certificate") || !m.status.err {
		t.Fatalf("status = %+v", m.status)
	}
	press(m, "esc")
	requireLacks(t, m.View(), "New client certificate")
}

func TestDetailsShowHistoryAndSessions(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 100, 40)
	press(m, "enter")
	if !slices.Contains(f.Calls(), "History 3f2a9c1b7d5e4a01/5a1e0c7d9b2f4e61") {
		t.Fatalf("calls = %v", f.Calls())
	}
	requireContains(t, m.View(), "Certificate dev1", "dev1.local", "Gatehouse Issuing CA",
		"Live sessions (2)", "dev1-a", "cert.activate", "first handshake")
	press(m, "s") // actions work from the details too
	requireContains(t, m.View(), "suspended dev1 (3f2a9c1b)")
	press(m, "esc")
	requireContains(t, m.View(), "5 certificates")
}

func TestToggleClientAuth(t *testing.T) {
	tests := map[string]struct {
		down     int
		dialog   []string
		wantCall string
	}{
		"ok/switch off mqtts": {0, []string{"OFF for mqtts", "any client may then connect"}, "SetClientAuth mqtts false"},
		"ok/switch on wss":    {1, []string{"ON for wss", "1 connected client without a certificate will be dropped"}, "SetClientAuth wss true"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFake()
			m, _ := loaded(t, f, 80, 24, withStartPage(PageTransports))
			for range tt.down {
				press(m, "down")
			}
			press(m, " ")
			requireContains(t, m.View(), tt.dialog...)
			press(m, "y")
			if !slices.Contains(f.Calls(), tt.wantCall) {
				t.Fatalf("calls = %v", f.Calls())
			}
			requireContains(t, m.View(), "client-cert auth")
		})
	}
}

func TestToggleDisabledWithoutTLS(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 80, 24, withStartPage(PageTransports))
	press(m, "down", "down", "m")
	requireLacks(t, m.View(), "Client-cert auth", "toggle client-cert auth")
}

func TestExportCA(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 80, 24, withStartPage(PageTrust))
	press(m, "e")
	requireContains(t, m.View(), "export ca.pem to: ./ca.pem")
	press(m, "enter")
	if !slices.Contains(f.Calls(), "ExportCA ./ca.pem") {
		t.Fatalf("calls = %v", f.Calls())
	}
	requireContains(t, m.View(), "exported ca.pem to ./ca.pem")

	press(m, "e", "backspace", "backspace", "backspace", "backspace", "backspace", "backspace")
	typeText(m, "root.pem")
	press(m, "enter")
	if !slices.Contains(f.Calls(), "ExportCA ./root.pem") {
		t.Fatalf("calls = %v", f.Calls())
	}
}

func TestQuitKeys(t *testing.T) {
	for _, k := range []string{"q", "ctrl+c"} {
		m, _ := loaded(t, newFake(), 80, 24)
		_, cmd := m.Update(keyMsg(k))
		if cmd == nil || m.ctx.Err() == nil {
			t.Fatalf("%s: no quit", k)
		}
	}
	m, _ := loaded(t, newFake(), 80, 24)
	press(m, "/")
	_, cmd := m.Update(keyMsg("ctrl+c"))
	if cmd == nil {
		t.Fatal("ctrl+c did not quit while typing a filter")
	}
}

func TestFullHelp(t *testing.T) {
	m, _ := loaded(t, newFake(), 100, 30)
	press(m, "?")
	requireContains(t, m.View(), "shift+tab", "ctrl+z", "jump to view", "g/home")
	if n := strings.Count(m.View(), "\n") + 1; n != 30 {
		t.Fatalf("view has %d lines, want 30", n)
	}
}

func TestStateUnchangedOnNoSelection(t *testing.T) {
	f := newFake()
	f.snap.Certs = []store.Cert{}
	m, _ := loaded(t, f, 80, 24)
	press(m, "s", "x", "enter", "a")
	if len(f.Calls()) != 0 {
		t.Fatalf("calls on an empty table: %v", f.Calls())
	}
}

// A reload while the revoke dialog is open must not retarget it.
func TestRevokeDialogKeepsItsTarget(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 80, 24)
	press(m, "x")
	s, _ := f.Snapshot(t.Context())
	s.Certs = s.Certs[1:] // dev1 went away (e.g. the list was reloaded without it)
	m.Update(snapshotMsg{snap: s})
	requireContains(t, m.View(), "Revoke dev1 (3f2a9c1b)?")
	press(m, "y")
	if want := `Transition 3f2a9c1b7d5e4a01/5a1e0c7d9b2f4e61 revoked ""`; !slices.Contains(f.Calls(), want) {
		t.Fatalf("calls = %v, want %s", f.Calls(), want)
	}
}

func TestDetailsCloseWhenCertificateGoes(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 80, 24)
	press(m, "enter")
	s, _ := f.Snapshot(t.Context())
	s.Certs = s.Certs[1:]
	m.Update(snapshotMsg{snap: s})
	requireContains(t, m.View(), "4 certificates")
	requireLacks(t, m.View(), "Certificate dev1")
}

// A burst of keys in one message (tmux send-keys, SSH typeahead) is handled
// key by key: jjj moves three rows, so s suspends the fourth certificate.
func TestKeyBurstIsHandledInOrder(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 80, 24)
	press(m, "jjjs") // rows, newest first: dev1, dev2, sensor-7, legacy, old-gw
	want := `Transition 77aa88bb99cc0005/5a1e0c7d9b2f4e61 suspended ""`
	if calls := f.Calls(); !slices.Contains(calls, want) {
		t.Fatalf("calls = %q, want %q", calls, want)
	}
}

// On the home view, s asks first and says what it will drop; n keeps it.
func TestHomeSuspendAsksWithWhatItDrops(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 80, 24, withStartPage(PageHome))
	press(m, "j", "s")
	requireContains(t, m.View(), "suspend dev1? drops 2 sessions")
	press(m, "n")
	if calls := f.Calls(); slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, "Transition") }) {
		t.Fatalf("n still suspended: %q", calls)
	}
	press(m, "s", "y")
	if calls := f.Calls(); !slices.Contains(calls, `Transition 3f2a9c1b7d5e4a01/5a1e0c7d9b2f4e61 suspended ""`) {
		t.Fatalf("calls = %q", calls)
	}
	requireContains(t, m.View(), "suspended dev1 (3f2a9c1b), dropped 2 sessions")
}

// The wheel scrolls the list like the arrow keys.
func TestMouseWheelScrolls(t *testing.T) {
	m, _ := loaded(t, newFake(), 80, 24)
	m.Update(tea.MouseMsg{Action: tea.MouseActionPress, Button: tea.MouseButtonWheelDown})
	m.Update(tea.MouseMsg{Action: tea.MouseActionPress, Button: tea.MouseButtonWheelDown})
	if c, _ := m.certs.Selected(); c.CN != "sensor-7" {
		t.Fatalf("after two wheel-downs %q is selected, want the third row", c.CN)
	}
	m.Update(tea.MouseMsg{Action: tea.MouseActionPress, Button: tea.MouseButtonWheelUp})
	if c, _ := m.certs.Selected(); c.CN != "dev2" {
		t.Fatalf("after a wheel-up %q is selected, want the second row", c.CN)
	}
}

// ":" commands name certificates by CN, like the command line.
func TestCommandLine(t *testing.T) {
	tests := map[string]struct {
		line, call, status string
	}{
		"ok/suspend by CN":      {"suspend dev1", `Transition 3f2a9c1b7d5e4a01/5a1e0c7d9b2f4e61 suspended ""`, "suspended dev1"},
		"ok/reactivate by CN":   {"reactivate dev2", `Transition 9b1c44e0aa7f3302/5a1e0c7d9b2f4e61 active ""`, "reactivated dev2"},
		"ok/suspend by serial":  {"suspend 5d0e88", `Transition 5d0e8812cc3b9a03/5a1e0c7d9b2f4e61 suspended ""`, "suspended sensor-7"},
		"ok/kick a session":     {"kick dev1-a", "Kick dev1-a", "kicked dev1-a"},
		"fail/unknown CN":       {"suspend nobody", "ResolveSerial nobody", "error: suspend nobody"},
		"fail/unknown command":  {"frobnicate", "", `unknown command "frobnicate"`},
		"fail/missing argument": {"suspend", "", ":suspend needs one certificate"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFake()
			m, _ := loaded(t, f, 100, 30, withStartPage(PageHome))
			press(m, ":", tt.line, "enter")
			if tt.call != "" && !slices.Contains(f.Calls(), tt.call) {
				t.Fatalf("calls = %q, want %q", f.Calls(), tt.call)
			}
			requireContains(t, m.View(), tt.status)
		})
	}
}

// :revoke asks on the command line before it goes.
func TestCommandRevokeIsConfirmed(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 100, 30)
	press(m, ":", "revoke dev1", "enter")
	requireContains(t, m.View(), "revoke dev1 (3f2a9c1b)? final; drops 2 sessions")
	if slices.ContainsFunc(f.Calls(), func(c string) bool { return strings.HasPrefix(c, "Transition") }) {
		t.Fatalf("revoked before y: %q", f.Calls())
	}
	press(m, "y")
	if !slices.Contains(f.Calls(), `Transition 3f2a9c1b7d5e4a01/5a1e0c7d9b2f4e61 revoked ""`) {
		t.Fatalf("calls = %q", f.Calls())
	}
}

// On Connections, k kicks the selected session and s suspends its
// certificate.
func TestConnectionsAct(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 100, 30, withStartPage(PageConnections))
	press(m, "down", "k") // anon-1 first, then dev1-b
	if !slices.Contains(f.Calls(), "Kick dev1-b") {
		t.Fatalf("calls = %q, want Kick dev1-b", f.Calls())
	}
	requireContains(t, m.View(), "kicked dev1-b")
	press(m, "s")
	if !slices.ContainsFunc(f.Calls(), func(c string) bool {
		return strings.HasPrefix(c, "Transition 3f2a9c1b7d5e4a01/5a1e0c7d9b2f4e61 suspended")
	}) {
		t.Fatalf("calls = %q, want dev1 suspended", f.Calls())
	}
}

// Status messages go after a few seconds; failures of the backend stay.
func TestStatusClears(t *testing.T) {
	m, clk := loaded(t, newFake(), 80, 24)
	press(m, "s")
	requireContains(t, m.View(), "suspended dev1")
	clk.Advance(statusFor)
	m.Update(tickMsg{})
	requireLacks(t, m.View(), "suspended dev1 (")
}

// o sorts by the next column and marks it; O reverses.
func TestSortByColumn(t *testing.T) {
	m, _ := loaded(t, newFake(), 100, 30)
	press(m, "o") // CN
	requireContains(t, m.View(), "CN▲")
	if c, _ := m.certs.Selected(); c.CN != "dev1" {
		t.Fatalf("the cursor left dev1 when sorting: %q", c.CN)
	}
	press(m, "g")
	if c, _ := m.certs.Selected(); c.CN != "dev1" {
		t.Fatalf("first by CN is %q, want dev1", c.CN)
	}
	press(m, "O", "g")
	requireContains(t, m.View(), "CN▼")
	if c, _ := m.certs.Selected(); c.CN != "sensor-7" {
		t.Fatalf("first by CN descending is %q, want sensor-7", c.CN)
	}

	press(m, "2", "o") // connections by client id
	requireContains(t, m.View(), "CLIENT▲")
	press(m, "g", "k")
	if !slices.Contains(m.backend.(*fakeBackend).Calls(), "Kick anon-1") {
		t.Fatalf("calls = %q, want anon-1 first by client id", m.backend.(*fakeBackend).Calls())
	}
}
