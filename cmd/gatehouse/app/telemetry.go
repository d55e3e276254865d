package app

import (
	"bytes"
	"cmp"
	"container/list"
	"encoding/json"
	"slices"
	"sync"
	"time"
)

// Telemetry limits. Every dimension is capped because any connected client
// chooses what it publishes: client IDs, field names and payload sizes.
const (
	// TelemetryClients is how many clients are tracked; the one heard from
	// least recently is forgotten to make room.
	TelemetryClients = 1000
	// TelemetryWindow is how many values are kept per client and field, and how
	// many arrival times the message rate is computed over.
	TelemetryWindow = 60
	// telemetryFields caps the numeric fields kept per client.
	telemetryFields = 16
	// telemetryFieldName caps a field name's length; longer ones are ignored.
	telemetryFieldName = 64
	// telemetryTopic caps the stored topic, which is kept for display only
	// and may be 64 KiB long in MQTT. Only a client's last topic is kept, so
	// publishing on ever new topics costs nothing.
	telemetryTopic = 256
	// telemetryClientID caps the client ID of a tracked client: MQTT allows
	// 64 KiB ones, and a key cannot be truncated without merging clients, so
	// longer ones are not tracked.
	telemetryClientID = 256
	// telemetryParseLimit is the largest payload parsed as JSON; larger ones
	// are only counted, so a hostile publisher cannot make the broker's
	// client goroutines spend their time decoding.
	telemetryParseLimit = 64 << 10
)

// Series is what one client has published recently. Fields holds the last
// values of each numeric JSON field, oldest first; it is empty for clients
// that publish anything else, which are shown by size and rate only.
type Series struct {
	ClientID string               `json:"client_id"`
	Topic    string               `json:"topic"` // the latest topic published to, at most 256 bytes
	Fields   map[string][]float64 `json:"fields"`
	Messages uint64               `json:"messages"`
	Bytes    uint64               `json:"bytes"`
	// Rate is messages per second over the last 60 arrivals (the collector's window);
	// zero until two messages arrived.
	Rate   float64   `json:"rate"`
	LastAt time.Time `json:"last_at"`
}

// Names returns the field names in sorted order, so a client's fields are
// listed the same way on every snapshot.
func (s Series) Names() []string {
	names := make([]string, 0, len(s.Fields))
	for n := range s.Fields {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Telemetry collects per-client series from published payloads. Kaa-style
// JSON, an array of samples or one object ([{"timestamp":..,"temperature":..,
// "humidity":..}]), contributes its top-level numeric fields except
// "timestamp"; any other payload is only counted.
//
// It is safe for concurrent use. Record is called from the broker's client
// goroutines, so it decodes outside the lock and holds the mutex only to
// append a few numbers. Memory is bounded by TelemetryClients x
// telemetryFields x TelemetryWindow values, one topic and one client ID of
// bounded length per client, whatever the clients publish.
type Telemetry struct {
	maxClients, window int

	mu      sync.Mutex
	clients map[string]*list.Element // of *track; front = heard from most recently
	lru     list.List
}

// track is one client's mutable state, guarded by Telemetry.mu.
type track struct {
	id       string
	topic    string
	fields   map[string][]float64
	messages uint64
	bytes    uint64
	arrivals []time.Time // last window arrival times, oldest first
}

// NewTelemetry returns an empty collector keeping up to maxClients clients and
// window values per field; zero or negative limits take the defaults.
func NewTelemetry(maxClients, window int) *Telemetry {
	if maxClients <= 0 {
		maxClients = TelemetryClients
	}
	if window <= 0 {
		window = TelemetryWindow
	}
	return &Telemetry{maxClients: maxClients, window: window, clients: map[string]*list.Element{}}
}

// Record accounts one message published by clientID on topic at the given time.
func (t *Telemetry) Record(clientID, topic string, payload []byte, at time.Time) {
	if len(clientID) > telemetryClientID {
		return
	}
	samples := parseSamples(payload)
	t.mu.Lock()
	defer t.mu.Unlock()
	tr := t.trackFor(clientID)
	tr.topic = topic[:min(len(topic), telemetryTopic)]
	tr.messages++
	tr.bytes += uint64(len(payload))
	tr.arrivals = pushBounded(tr.arrivals, at, t.window)
	for _, s := range samples {
		for _, name := range s.names {
			vals, ok := tr.fields[name]
			if !ok && len(tr.fields) >= telemetryFields {
				continue
			}
			tr.fields[name] = pushBounded(vals, s.values[name], t.window)
		}
	}
}

// trackFor returns the client's track, making it the most recent and evicting
// the least recent client when full. The caller holds t.mu.
func (t *Telemetry) trackFor(clientID string) *track {
	if el, ok := t.clients[clientID]; ok {
		t.lru.MoveToFront(el)
		return el.Value.(*track)
	}
	if t.lru.Len() >= t.maxClients {
		oldest := t.lru.Back()
		delete(t.clients, oldest.Value.(*track).id)
		t.lru.Remove(oldest)
	}
	tr := &track{id: clientID, fields: map[string][]float64{}}
	t.clients[clientID] = t.lru.PushFront(tr)
	return tr
}

// Snapshot returns a copy of every tracked series, sorted by client ID.
func (t *Telemetry) Snapshot() []Series {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Series, 0, t.lru.Len())
	for el := t.lru.Front(); el != nil; el = el.Next() {
		tr := el.Value.(*track)
		fields := make(map[string][]float64, len(tr.fields))
		for name, vals := range tr.fields {
			fields[name] = slices.Clone(vals)
		}
		s := Series{ClientID: tr.id, Topic: tr.topic, Fields: fields, Messages: tr.messages, Bytes: tr.bytes}
		if n := len(tr.arrivals); n > 0 {
			s.LastAt = tr.arrivals[n-1]
			if span := tr.arrivals[n-1].Sub(tr.arrivals[0]).Seconds(); n > 1 && span > 0 {
				s.Rate = float64(n-1) / span
			}
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Series) int { return cmp.Compare(a.ClientID, b.ClientID) })
	return out
}

// pushBounded appends v, dropping the oldest value once n are held.
func pushBounded[T any](s []T, v T, n int) []T {
	if len(s) >= n {
		s = append(s[:0], s[len(s)-n+1:]...)
	}
	return append(s, v)
}

// sample is one JSON object's numeric fields, names sorted so that the
// per-client field cap keeps the same fields every time.
type sample struct {
	names  []string
	values map[string]float64
}

// parseSamples decodes a Kaa-style payload: an array of objects or a single
// object. Anything else, including JSON without numeric fields, yields nothing.
func parseSamples(payload []byte) []sample {
	b := bytes.TrimSpace(payload)
	if len(b) == 0 || len(b) > telemetryParseLimit || (b[0] != '[' && b[0] != '{') {
		return nil
	}
	var objs []map[string]any
	if b[0] == '[' {
		if err := json.Unmarshal(b, &objs); err != nil {
			return nil
		}
	} else {
		var obj map[string]any
		if err := json.Unmarshal(b, &obj); err != nil {
			return nil
		}
		objs = append(objs, obj)
	}
	var out []sample
	for _, obj := range objs {
		s := sample{values: map[string]float64{}}
		for name, v := range obj {
			f, ok := v.(float64)
			if !ok || name == "timestamp" || name == "" || len(name) > telemetryFieldName {
				continue
			}
			s.names = append(s.names, name)
			s.values[name] = f
		}
		if len(s.names) > 0 {
			slices.Sort(s.names)
			out = append(out, s)
		}
	}
	return out
}
