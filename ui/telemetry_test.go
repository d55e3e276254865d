package ui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
)

func TestTelemetryRows(t *testing.T) {
	tests := map[string]struct {
		w, h int
		want []string
	}{
		"ok/80x24": {80, 24, []string{"[6 Telemetry]", "3 publishing clients · 2 with JSON fields",
			"> dev1-a", "devices/dev1/telemetry", "1.2k", "69.9 KiB", "2s ago",
			"temperature    21.5     min 20.5     max 22.8", "humidity       44       min 43.8     max 48",
			"… 3 more fields: enter charts them all", "5m ago"}},
		"ok/100x30": {100, 30, []string{"site/gw-9/air", "co2            412      min 410      max 415"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			m, _ := loaded(t, newFake(), tt.w, tt.h)
			press(m, "6")
			requireContains(t, m.View(), tt.want...)
		})
	}
}

func TestTelemetryNonJSONShowsSizeAndRate(t *testing.T) {
	m, _ := loaded(t, newFake(), 80, 24, withStartPage(PageTelemetry))
	v := m.View()
	requireContains(t, v, "dev1-b", "devices/dev1/firmware", "non-JSON payloads: 1.2 KiB, 0.5 msg/s")
	// Its block is the client line and that one line: no field lines.
	lines := strings.Split(v, "\n")
	for i, l := range lines {
		if strings.Contains(l, "dev1-b") && !strings.Contains(lines[i+1], "non-JSON") {
			t.Fatalf("line after dev1-b = %q", lines[i+1])
		}
	}
}

func TestTelemetryEmpty(t *testing.T) {
	f := newFake()
	f.snap.Telemetry = nil
	m, _ := loaded(t, f, 80, 24, withStartPage(PageTelemetry))
	v := m.View()
	requireContains(t, v, "0 publishing clients", "No telemetry yet: clients that publish JSON like",
		`[{"temperature":21.5,"humidity":44}] show up here.`)
	press(m, "enter", "down", "G")
	requireLacks(t, m.View(), "esc back to the list")
}

// A snapshot updates the values; the cursor stays on its client when
// others appear before it.
func TestTelemetryFollowsSnapshots(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 80, 24, withStartPage(PageTelemetry))
	press(m, "down", "down") // gw-9
	s, _ := f.Snapshot(t.Context())
	s.Telemetry[0].Fields["temperature"] = append(s.Telemetry[0].Fields["temperature"], 25.25)
	s.Telemetry = append(s.Telemetry, app.Series{ClientID: "aaa", Messages: 1, Bytes: 10, LastAt: t0})
	m.Update(snapshotMsg{snap: s})
	v := m.View()
	requireContains(t, v, "4 publishing clients", "> gw-9", "temperature    25.25    min 20.5     max 25.25",
		"non-JSON payloads: 10 B")
	requireLacks(t, v, "10 B, ") // no rate before two messages
}

func TestTelemetryChart(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 80, 24, withStartPage(PageTelemetry))
	press(m, "enter")
	v := m.View()
	requireContains(t, v, "dev1-a · devices/dev1/telemetry", "1.2k msgs · 0.5 msg/s · 69.9 KiB · last 2s ago",
		"humidity  44  min 43.8 · max 48 · last 16 values", "temperature  21.5  min 20.5 · max 22.8",
		" 22.8 ┤", " 20.5 ┤", "esc back to the list")
	requireLacks(t, v, "fields 1-") // both fit

	// A refresh keeps the chart open on its client, with the new values.
	s, _ := f.Snapshot(t.Context())
	s.Telemetry[0].Fields["temperature"] = append(s.Telemetry[0].Fields["temperature"], 23.5)
	m.Update(snapshotMsg{snap: s})
	requireContains(t, m.View(), "dev1-a · devices/dev1/telemetry", "temperature  23.5  min 20.5 · max 23.5")

	press(m, "esc")
	requireContains(t, m.View(), "3 publishing clients")

	// The chart closes when its client is no longer tracked.
	press(m, "enter")
	s, _ = f.Snapshot(t.Context())
	s.Telemetry = s.Telemetry[1:]
	m.Update(snapshotMsg{snap: s})
	requireContains(t, m.View(), "2 publishing clients")
}

func TestTelemetryChartNonJSON(t *testing.T) {
	m, _ := loaded(t, newFake(), 80, 24, withStartPage(PageTelemetry))
	press(m, "down", "enter")
	requireContains(t, m.View(), "dev1-b · devices/dev1/firmware", "non-JSON payloads: 1.2 KiB, 0.5 msg/s",
		"Only JSON with numeric fields is charted")
}

// gw-9 has six fields; at 80x24 four charts fit and the others scroll in.
func TestTelemetryChartScrollsFields(t *testing.T) {
	m, _ := loaded(t, newFake(), 80, 24, withStartPage(PageTelemetry))
	press(m, "G", "enter")
	requireContains(t, m.View(), "gw-9 · site/gw-9/air", "fields 1-4 of 6", "battery  3.8", "↓/j more fields")
	requireLacks(t, m.View(), "voc  0.35")
	press(m, "down", "down", "down") // the third stops at the last screenful
	requireContains(t, m.View(), "fields 3-6 of 6", "voc  0.35")
	requireLacks(t, m.View(), "battery  3.8")
	press(m, "up")
	requireContains(t, m.View(), "fields 2-5 of 6")

	m.Update(tea.WindowSizeMsg{Width: 100, Height: 40}) // all six fit: nothing left to scroll
	requireContains(t, m.View(), "battery  3.8", "voc  0.35")
	requireLacks(t, m.View(), "fields ", "more fields")
}

func TestTelemetryFilter(t *testing.T) {
	m, _ := loaded(t, newFake(), 80, 24, withStartPage(PageTelemetry))
	press(m, "/")
	typeText(m, "gw") // g is typed, not "first row"
	press(m, "q")     // typed too: the filter captures keys
	if m.ctx.Err() != nil {
		t.Fatal("q quit while typing a filter")
	}
	press(m, "backspace")
	v := m.View()
	requireContains(t, v, "1 match", "> gw-9")
	requireLacks(t, v, "dev1-a")

	press(m, "enter", "esc")
	requireContains(t, m.View(), "3 publishing clients", "dev1-a", "> gw-9")

	press(m, "/")
	typeText(m, "humid") // field names match too
	requireContains(t, m.View(), "2 match")
}

// Entering the view asks for a fresh snapshot, and it is refreshed every
// second while shown.
func TestTelemetryRefresh(t *testing.T) {
	f := newFake()
	m, _ := loaded(t, f, 80, 24)
	if got := m.refreshEvery(); got != refreshEvery {
		t.Fatalf("refresh on certificates = %v", got)
	}
	before := f.Snapshots()
	press(m, "6")
	if f.Snapshots() != before+1 {
		t.Fatalf("snapshots = %d, want %d", f.Snapshots(), before+1)
	}
	if got := m.refreshEvery(); got != time.Second {
		t.Fatalf("refresh on telemetry = %v, want 1s", got)
	}
	press(m, "1")
	if got := m.refreshEvery(); got != refreshEvery {
		t.Fatalf("refresh after leaving = %v", got)
	}
}

// With a thousand clients only a screenful is drawn, and the cursor's
// block stays on screen wherever it goes.
func TestTelemetryManyClients(t *testing.T) {
	f := newFake()
	f.snap.Telemetry = manySeries(1000)
	m, _ := loaded(t, f, 80, 24, withStartPage(PageTelemetry))
	requireSize(t, m.View(), 80, 24)
	requireContains(t, m.View(), "> client-0000", "1000 publishing clients · 500 with JSON fields")

	press(m, "G")
	v := m.View()
	requireSize(t, v, 80, 24)
	requireContains(t, v, "> client-0999", "non-JSON payloads")
	press(m, "b") // page up by the seven blocks on screen
	requireContains(t, m.View(), "> client-0992")

	press(m, "g", "f") // page down from the top moves by the seven blocks on screen
	requireContains(t, m.View(), "> client-0007")
	requireLacks(t, m.View(), "client-0000")
	for _, sz := range [][2]int{{60, 16}, {132, 43}} {
		m.Update(tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
		requireSize(t, m.View(), sz[0], sz[1])
	}
}

func TestConnectionsShowLatestReadings(t *testing.T) {
	m, _ := loaded(t, newFake(), 100, 30, withStartPage(PageConnections))
	requireContains(t, m.View(), "LATEST", "21.5° 44%")
}

// manySeries returns n clients, every other one publishing JSON.
func manySeries(n int) []app.Series {
	out := make([]app.Series, n)
	for i := range out {
		out[i] = app.Series{ClientID: fmt.Sprintf("client-%04d", i), Topic: "t/" + fmt.Sprint(i), Messages: 60,
			Bytes: 3000, Rate: 1, LastAt: t0.Add(-time.Second)}
		if i%2 == 0 {
			vals := make([]float64, 60)
			for j := range vals {
				vals[j] = float64(20 + (i+j)%7)
			}
			out[i].Fields = map[string][]float64{"temperature": vals, "humidity": vals}
		}
	}
	return out
}
