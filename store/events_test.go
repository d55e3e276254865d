package store_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

func entries(t0 time.Time, n int, step time.Duration) []store.EventEntry {
	out := make([]store.EventEntry, n)
	for i := range out {
		out[i] = store.EventEntry{At: t0.Add(time.Duration(i) * step), Data: []byte(fmt.Sprintf("e%d", i))}
	}
	return out
}

func datas(es []store.EventEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = string(e.Data)
	}
	return out
}

func TestEventRetention(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open opener) {
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		tests := map[string]struct {
			r    store.EventRetention
			now  time.Time
			want []string
		}{
			"unbounded":      {store.EventRetention{}, t0.Add(time.Hour), []string{"e0", "e1", "e2", "e3", "e4"}},
			"keep 2":         {store.EventRetention{Keep: 2}, t0, []string{"e3", "e4"}},
			"max age 90s":    {store.EventRetention{MaxAge: 90 * time.Second}, t0.Add(4 * time.Minute), []string{"e3", "e4"}},
			"both, age wins": {store.EventRetention{Keep: 4, MaxAge: 30 * time.Second}, t0.Add(4 * time.Minute), []string{"e4"}},
			// An entry is 18 bytes: an 8-byte key, an 8-byte time, 2 bytes of data.
			"max bytes 40": {store.EventRetention{MaxBytes: 40}, t0, []string{"e3", "e4"}},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				s := open(t)
				if _, err := s.AppendEvents(entries(t0, 5, time.Minute), tc.r, tc.now); err != nil {
					t.Fatal(err)
				}
				got, err := s.ListEvents(time.Time{}, 0)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(datas(got)) != fmt.Sprint(tc.want) {
					t.Fatalf("kept %v, want %v", datas(got), tc.want)
				}
			})
		}
	})
}

func TestListEventsSinceAndLimit(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open opener) {
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		s := open(t)
		// Two batches: the second keeps counting where the first stopped.
		if _, err := s.AppendEvents(entries(t0, 3, time.Minute), store.EventRetention{Keep: 10}, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendEvents(entries(t0.Add(3*time.Minute), 3, time.Minute)[1:], store.EventRetention{Keep: 4}, t0); err != nil {
			t.Fatal(err)
		}
		tests := map[string]struct {
			since time.Time
			limit int
			want  []string
		}{
			"all":          {time.Time{}, 0, []string{"e1", "e2", "e1", "e2"}},
			"since":        {t0.Add(2 * time.Minute), 0, []string{"e2", "e1", "e2"}},
			"newest 2":     {time.Time{}, 2, []string{"e1", "e2"}},
			"since future": {t0.Add(time.Hour), 0, []string{}},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				got, err := s.ListEvents(tc.since, tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(datas(got)) != fmt.Sprint(tc.want) {
					t.Fatalf("got %v, want %v", datas(got), tc.want)
				}
			})
		}
	})
}

func TestEventsSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.AppendEvents([]store.EventEntry{{At: at, Data: []byte(`{"type":"refused"}`)}}, store.EventRetention{}, at); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.ListEvents(time.Time{}, 0)
	if err != nil || len(got) != 1 || !got[0].At.Equal(at) || string(got[0].Data) != `{"type":"refused"}` {
		t.Fatalf("after reopen: %v, %v", got, err)
	}
}

// The size bound holds across batches and reopens: the log's size is kept,
// not recounted from the batch alone.
func TestEventByteBoundAcrossAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := store.EventRetention{MaxBytes: 40}
	for i := range 5 {
		s, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		e := store.EventEntry{At: t0, Data: []byte(fmt.Sprintf("e%d", i))}
		if _, err := s.AppendEvents([]store.EventEntry{e}, r, t0); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	s, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.ListEvents(time.Time{}, 0)
	if err != nil || fmt.Sprint(datas(got)) != "[e3 e4]" {
		t.Fatalf("kept %v (%v), want [e3 e4]", datas(got), err)
	}
}

// BenchmarkAppendEventsFullLog measures one writer batch of 512 events into a
// log at its count bound, so every batch also trims 512 old events.
func BenchmarkAppendEventsFullLog(b *testing.B) {
	s := openTemp(b)
	t0 := time.Now()
	r := store.EventRetention{Keep: 10_000}
	data := []byte(`{"at":"2026-01-01T00:00:00Z","type":"connected","reason":"","client_id":"device-123","serial":"3f2a9c0011","cn":"device-123","remote":"10.0.0.7:51234","transport":"mqtts"}`)
	batch := make([]store.EventEntry, 512)
	for i := range batch {
		batch[i] = store.EventEntry{At: t0, Data: data}
	}
	for range 10_000 / len(batch) {
		if _, err := s.AppendEvents(batch, r, t0); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.AppendEvents(batch, r, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// In a cluster each node keeps its own event log in etcd: nodes appending at
// once never race for one sequence, and each lists what it appended, in
// order, however the appends of the two interleave.
func TestEtcdNodesKeepTheirOwnEventLogs(t *testing.T) {
	prefix := freshPrefix()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	nodes := map[string]*store.Store{}
	for _, name := range []string{"n1", "n2"} {
		s, err := store.OpenEtcd(store.EtcdConfig{Endpoints: etcdEndpoints(t), Prefix: prefix, Node: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		nodes[name] = s
	}
	const batches = 6
	var wg sync.WaitGroup
	for name, s := range nodes {
		wg.Go(func() {
			for b := range batches {
				batch := entries(t0.Add(time.Duration(b)*time.Hour), 3, time.Minute)
				for i := range batch {
					batch[i].Data = fmt.Appendf(nil, "%s-%d-%s", name, b, batch[i].Data)
				}
				if _, err := s.AppendEvents(batch, store.EventRetention{Keep: 12}, t0); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
		})
	}
	wg.Wait()
	for name, s := range nodes {
		got, err := s.ListEvents(time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for b := batches - 4; b < batches; b++ { // Keep 12: the last four batches of three
			for i := range 3 {
				want = append(want, fmt.Sprintf("%s-%d-e%d", name, b, i))
			}
		}
		if fmt.Sprint(datas(got)) != fmt.Sprint(want) {
			t.Errorf("%s lists %v, want %v", name, datas(got), want)
		}
	}
	shared := openEtcdAt(t, prefix) // no node: the shared log, which no node wrote
	if got, err := shared.ListEvents(time.Time{}, 0); err != nil || len(got) != 0 {
		t.Fatalf("the store without a node lists %v (%v), want none", datas(got), err)
	}
}
