package app

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var telemetryT0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func TestTelemetryRecord(t *testing.T) {
	tests := map[string]struct {
		payloads   []string
		wantFields map[string][]float64
	}{
		"ok/kaa array": {
			payloads:   []string{`[{"timestamp":1700000000000,"temperature":21.5,"humidity":44}]`},
			wantFields: map[string][]float64{"temperature": {21.5}, "humidity": {44}},
		},
		"ok/kaa batch keeps sample order": {
			payloads:   []string{`[{"temperature":1},{"temperature":2}]`, ` [{"temperature":3}] `},
			wantFields: map[string][]float64{"temperature": {1, 2, 3}},
		},
		"ok/single object": {
			payloads:   []string{`{"timestamp":1,"temperature":20,"label":"x","on":true,"nested":{"a":1}}`},
			wantFields: map[string][]float64{"temperature": {20}},
		},
		"ok/plain text counted only": {
			payloads:   []string{"hello", "21.5"},
			wantFields: map[string][]float64{},
		},
		"ok/broken json counted only": {
			payloads:   []string{`[{"temperature":`, `[1,2,3]`, `{}`, `[]`},
			wantFields: map[string][]float64{},
		},
		"ok/oversized payload counted only": {
			payloads:   []string{`{"temperature":1,"pad":"` + strings.Repeat("x", telemetryParseLimit) + `"}`},
			wantFields: map[string][]float64{},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tel := NewTelemetry(0, 0)
			var size uint64
			for i, p := range tc.payloads {
				tel.Record("dev", fmt.Sprintf("kp1/v1/dcx/dev/json/%d", i), []byte(p), telemetryT0.Add(time.Duration(i)*time.Second))
				size += uint64(len(p))
			}
			snap := tel.Snapshot()
			if len(snap) != 1 {
				t.Fatalf("snapshot has %d series, want 1", len(snap))
			}
			s := snap[0]
			n := len(tc.payloads)
			if s.ClientID != "dev" || s.Messages != uint64(n) || s.Bytes != size {
				t.Fatalf("series %s: %d messages %d bytes, want dev: %d, %d", s.ClientID, s.Messages, s.Bytes, n, size)
			}
			if want := fmt.Sprintf("kp1/v1/dcx/dev/json/%d", n-1); s.Topic != want || !s.LastAt.Equal(telemetryT0.Add(time.Duration(n-1)*time.Second)) {
				t.Fatalf("topic %q at %v, want the latest %q", s.Topic, s.LastAt, want)
			}
			if !reflect.DeepEqual(s.Fields, tc.wantFields) {
				t.Fatalf("fields %v, want %v", s.Fields, tc.wantFields)
			}
		})
	}
}

func TestTelemetryWindowAndRate(t *testing.T) {
	tel := NewTelemetry(0, 5)
	for i := range 12 {
		tel.Record("dev", "t", fmt.Appendf(nil, `[{"temperature":%d}]`, i), telemetryT0.Add(time.Duration(i)*500*time.Millisecond))
	}
	s := tel.Snapshot()[0]
	if want := []float64{7, 8, 9, 10, 11}; !reflect.DeepEqual(s.Fields["temperature"], want) {
		t.Fatalf("window %v, want the last five %v", s.Fields["temperature"], want)
	}
	if s.Messages != 12 || math.Abs(s.Rate-2) > 1e-9 {
		t.Fatalf("%d messages at %.3f/s, want 12 at 2/s", s.Messages, s.Rate)
	}
}

// A client flooding JSON has its payloads decoded at telemetryParseRate
// after a burst of a window's worth; every message is still counted.
func TestTelemetrySamplesAJSONFlood(t *testing.T) {
	const window = 100
	tel := NewTelemetry(0, window)
	for i := range 1000 {
		tel.Record("dev", "t", fmt.Appendf(nil, `{"n":%d}`, i), telemetryT0)
	}
	s := tel.Snapshot()[0]
	if vals := s.Fields["n"]; s.Messages != 1000 || len(vals) != window || vals[window-1] != window-1 {
		t.Fatalf("%d messages, values ending %v; want 1000 counted and the burst's %d decoded", s.Messages, vals[len(vals)-5:], window)
	}
	tel.Record("dev", "t", []byte(`{"n":-1}`), telemetryT0.Add(time.Second/telemetryParseRate))
	if vals := tel.Snapshot()[0].Fields["n"]; vals[window-1] != -1 {
		t.Fatalf("values end %v: a token refilled since was not spent on the next payload", vals[window-5:])
	}
}

func TestTelemetryEvictsLeastRecentClient(t *testing.T) {
	tel := NewTelemetry(3, 0)
	for i, id := range []string{"a", "b", "c", "a", "d"} { // b is the least recent when d arrives
		tel.Record(id, "t", []byte("x"), telemetryT0.Add(time.Duration(i)*time.Millisecond))
	}
	var ids []string
	for _, s := range tel.Snapshot() {
		ids = append(ids, s.ClientID)
	}
	if want := []string{"a", "c", "d"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("tracked %v, want %v", ids, want)
	}
}

func TestTelemetryCapsFieldsPerClient(t *testing.T) {
	tel := NewTelemetry(0, 0)
	obj := map[string]float64{strings.Repeat("n", telemetryFieldName+1): 1}
	for i := range telemetryFields + 10 {
		obj[fmt.Sprintf("f%02d", i)] = float64(i)
	}
	payload, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	tel.Record("dev", "t", payload, telemetryT0)
	tel.Record("dev", "t", payload, telemetryT0)
	fields := tel.Snapshot()[0].Fields
	if len(fields) != telemetryFields {
		t.Fatalf("%d fields kept, want the cap %d", len(fields), telemetryFields)
	}
	if _, ok := fields["f00"]; !ok || len(fields["f00"]) != 2 {
		t.Fatalf("the first names in order must be kept and keep growing: %v", fields)
	}
}

func TestTelemetryCapsTopic(t *testing.T) {
	tel := NewTelemetry(0, 0)
	tel.Record("dev", strings.Repeat("t", 65535), []byte("x"), telemetryT0)
	if n := len(tel.Snapshot()[0].Topic); n != telemetryTopic {
		t.Fatalf("kept a topic of %d bytes, want %d", n, telemetryTopic)
	}
}

func TestTelemetrySnapshotIsACopy(t *testing.T) {
	tel := NewTelemetry(0, 0)
	tel.Record("dev", "t", []byte(`{"temperature":1}`), telemetryT0)
	snap := tel.Snapshot()
	snap[0].Fields["temperature"][0] = 99
	if got := tel.Snapshot()[0].Fields["temperature"][0]; got != 1 {
		t.Fatalf("a caller's edit reached the collector: %v", got)
	}
	b, err := json.Marshal(snap[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"client_id", "topic", "fields", "messages", "bytes", "rate", "last_at"} {
		if !strings.Contains(string(b), `"`+key+`"`) {
			t.Errorf("JSON %s lacks %q", b, key)
		}
	}
}

func TestTelemetryConcurrent(t *testing.T) {
	tel := NewTelemetry(10, 0)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 500 {
				tel.Record(fmt.Sprintf("dev-%d", (w*7+i)%20), "t", []byte(`[{"temperature":21,"humidity":45}]`), telemetryT0)
				if i%50 == 0 {
					tel.Snapshot()
				}
			}
		})
	}
	wg.Wait()
	snap := tel.Snapshot()
	if len(snap) != 10 {
		t.Fatalf("%d clients tracked, want the cap 10", len(snap))
	}
}

func BenchmarkTelemetryRecord(b *testing.B) {
	tel := NewTelemetry(0, 0)
	payload := []byte(`[{"timestamp":1700000000000,"temperature":21.5,"humidity":44.2}]`)
	b.ReportAllocs()
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = fmt.Sprintf("dev-%d", i)
	}
	at := telemetryT0
	for i := 0; b.Loop(); i++ {
		at = at.Add(time.Second / 100) // each client once a second: every payload is decoded
		tel.Record(ids[i%100], "kp1/demo-v1/dcx/dev/json", payload, at)
	}
}

// BenchmarkTelemetryRecordParallel is the broker's case at a high message
// rate: ten publishers, each on its own goroutine, sending 64-byte binary
// payloads (counted, not parsed).
func BenchmarkTelemetryRecordParallel(b *testing.B) {
	tel := NewTelemetry(0, 0)
	payload := make([]byte, 64)
	var next atomic.Int32
	b.ReportAllocs()
	b.SetParallelism(5) // 10 goroutines on the 2 CPUs the issue measured
	b.RunParallel(func(pb *testing.PB) {
		id := fmt.Sprintf("pub-%d", next.Add(1)%10)
		at := telemetryT0
		for pb.Next() {
			at = at.Add(time.Microsecond)
			tel.Record(id, "bench/qos0", payload, at)
		}
	})
}

// TestTelemetryMemoryIsBounded has hostile clients publish on ever new
// topics and field names, under ever new and very long client IDs: the
// collector's state stays within its caps.
func TestTelemetryMemoryIsBounded(t *testing.T) {
	const maxClients = 10
	tel := NewTelemetry(maxClients, 5)
	long := strings.Repeat("c", 64<<10)
	for i := range 1000 {
		topic := fmt.Sprintf("%s/%d", strings.Repeat("t", 1024), i)
		payload := fmt.Sprintf(`{"f%d":1,"g%d":2}`, i, i)
		tel.Record("dev", topic, []byte(payload), telemetryT0)
		tel.Record(fmt.Sprintf("dev-%d", i), topic, []byte(payload), telemetryT0)
		tel.Record(long+fmt.Sprint(i), topic, []byte(payload), telemetryT0)
	}
	snap := tel.Snapshot()
	if len(snap) != maxClients {
		t.Fatalf("tracking %d clients, want the cap %d", len(snap), maxClients)
	}
	for _, s := range snap {
		if len(s.ClientID) > telemetryClientID || len(s.Topic) > telemetryTopic || len(s.Fields) > telemetryFields {
			t.Fatalf("series over its caps: id %d bytes, topic %d bytes, %d fields", len(s.ClientID), len(s.Topic), len(s.Fields))
		}
		for name, vals := range s.Fields {
			if len(vals) > 5 {
				t.Fatalf("field %s keeps %d values, want at most 5", name, len(vals))
			}
		}
	}
}
