package ui

import (
	"context"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// fixedClock is a clock tests can move.
type fixedClock struct{ now time.Time }

func (c *fixedClock) Now() time.Time          { return c.now }
func (c *fixedClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

// loaded returns a model of the given size that has received the fake's
// first snapshot and name, as after Init.
func loaded(t testing.TB, f *fakeBackend, w, h int, opts ...Option) (*Model, *fixedClock) {
	t.Helper()
	clk := &fixedClock{now: t0}
	m := New(f, append([]Option{withClock(clk.Now), withStartPage(PageCertificates)}, opts...)...)
	t.Cleanup(m.cancel)
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	s, err := f.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m.Update(snapshotMsg{snap: s, full: true})
	m.Update(describeMsg(f.Describe()))
	return m, clk
}

// settle runs cmd and feeds its messages back into m, like the bubbletea
// runtime, until nothing is left. A command still blocked after a short
// wait (a tick, the event reader) is abandoned.
func settle(m *Model, cmd tea.Cmd) {
	queue := []tea.Cmd{cmd}
	for steps := 0; len(queue) > 0 && steps < 200; steps++ {
		c := queue[0]
		queue = queue[1:]
		if c == nil {
			continue
		}
		done := make(chan tea.Msg, 1)
		go func() { done <- c() }()
		var msg tea.Msg
		select {
		case msg = <-done:
		case <-time.After(100 * time.Millisecond):
			continue
		}
		switch msg := msg.(type) {
		case nil:
		case tea.BatchMsg:
			queue = append(queue, msg...)
		case tea.QuitMsg:
		default:
			_, next := m.Update(msg)
			queue = append(queue, next)
		}
	}
}

// press sends keys one by one ("enter", "tab", "ctrl+c" or single runes)
// and settles the commands each returns.
func press(m *Model, keys ...string) {
	for _, k := range keys {
		_, cmd := m.Update(keyMsg(k))
		settle(m, cmd)
	}
}

func keyMsg(k string) tea.KeyMsg {
	types := map[string]tea.KeyType{
		"enter": tea.KeyEnter, "esc": tea.KeyEsc, "tab": tea.KeyTab, "shift+tab": tea.KeyShiftTab,
		"up": tea.KeyUp, "down": tea.KeyDown, "left": tea.KeyLeft, "right": tea.KeyRight,
		"ctrl+c": tea.KeyCtrlC, "ctrl+z": tea.KeyCtrlZ, " ": tea.KeySpace, "backspace": tea.KeyBackspace,
	}
	if t, ok := types[k]; ok {
		return tea.KeyMsg{Type: t}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
}

// typeText sends every rune of s as its own key.
func typeText(m *Model, s string) {
	for _, r := range s {
		press(m, string(r))
	}
}

// requireContains fails unless the view contains every want.
func requireContains(t *testing.T, view string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(view, w) {
			t.Fatalf("view lacks %q:\n%s", w, view)
		}
	}
}

func requireLacks(t *testing.T, view string, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(view, w) {
			t.Fatalf("view contains %q:\n%s", w, view)
		}
	}
}

// withClock replaces time.Now, so that tests render "expires in",
// "connected for" and the linger of dropped sessions deterministically.
func withClock(now func() time.Time) Option {
	return func(m *Model) { m.clock = now }
}

// withStartPage opens the TUI on the given view instead of Certificates.
func withStartPage(p Page) Option {
	return func(m *Model) {
		if p >= 0 && p < pageCount {
			m.page = p
		}
	}
}
