package app

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// telemetryParseRate is how many payloads per second, after a burst of a
// window's worth, are decoded per client. A device reporting every second
// has every sample shown; one publishing thousands of JSON messages a second
// is sampled, so decoding cannot dominate the broker's CPU (every message is
// still counted and timed).
const telemetryParseRate = 20

// Telemetry collects per-client series from published payloads. Kaa-style
// JSON, an array of samples or one object ([{"timestamp":..,"temperature":..,
// "humidity":..}]), contributes its top-level numeric fields except
// "timestamp"; any other payload is only counted.
//
// It is safe for concurrent use, and built for Record being on every
// message's path (the broker calls it from the publishing client's
// goroutine): finding a known client is a lock-free map read, and its state
// has a mutex of its own, which only that client's goroutine and Snapshot
// take, so publishers never wait for each other. Adding a client takes the
// collector's mutex; when TelemetryClients are tracked, the one heard from
// least recently is forgotten. Memory is bounded by TelemetryClients x
// telemetryFields x TelemetryWindow values, one topic and one client ID of
// bounded length per client, whatever the clients publish.
type Telemetry struct {
	maxClients, window int

	clients sync.Map // client ID -> *track

	mu      sync.Mutex // serialises adding and forgetting tracks
	tracked int        // entries in clients, guarded by mu
}

// track is one client's state. seen is read by eviction without the lock;
// the rest is guarded by mu.
type track struct {
	id   string
	seen atomic.Int64 // unix nanoseconds of the latest message

	mu       sync.Mutex
	topic    string
	fields   map[string]*ring[float64]
	messages uint64
	bytes    uint64
	lastAt   time.Time
	arrivals ring[int64] // unix nanoseconds of the last window messages
	tokens   float64     // payloads it may still have decoded now (telemetryParseRate)
	refilled int64       // unix nanoseconds tokens were last refilled; 0 before the first message
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
	return &Telemetry{maxClients: maxClients, window: window}
}

// Record accounts one message published by clientID on topic at the given time.
func (t *Telemetry) Record(clientID, topic string, payload []byte, at time.Time) {
	if len(clientID) > telemetryClientID {
		return
	}
	now := at.UnixNano()
	tr := t.trackFor(clientID, now)
	tr.seen.Store(now)
	body := bytes.TrimSpace(payload)
	decode := len(body) > 0 && len(body) <= telemetryParseLimit && (body[0] == '[' || body[0] == '{')

	tr.mu.Lock()
	if len(topic) > telemetryTopic {
		topic = topic[:telemetryTopic]
	}
	if tr.topic != topic {
		tr.topic = strings.Clone(topic) // not a slice of the client's packet
	}
	tr.messages++
	tr.bytes += uint64(len(payload))
	tr.lastAt = at
	tr.arrivals.push(now, t.window)
	decode = decode && tr.mayParse(now, t.window)
	tr.mu.Unlock()
	if !decode {
		return
	}

	samples := parseSamples(body) // outside the lock: Snapshot need not wait for it
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, s := range samples {
		for _, name := range s.names {
			vals, ok := tr.fields[name]
			if !ok {
				if len(tr.fields) >= telemetryFields {
					continue
				}
				vals = new(ring[float64])
				tr.fields[name] = vals
			}
			vals.push(s.values[name], t.window)
		}
	}
}

// mayParse spends one of the client's decoding tokens, if it has one: a
// token bucket of burst tokens refilled at telemetryParseRate per second.
// The caller holds tr.mu.
func (tr *track) mayParse(now int64, burst int) bool {
	switch {
	case tr.refilled == 0:
		tr.tokens = float64(burst)
	case now > tr.refilled:
		tr.tokens = min(float64(burst), tr.tokens+float64(now-tr.refilled)*telemetryParseRate/float64(time.Second))
	}
	tr.refilled = max(tr.refilled, now)
	if tr.tokens < 1 {
		return false
	}
	tr.tokens--
	return true
}

// trackFor returns the client's track, adding it, and forgetting the least
// recently heard from client when full, if it is new.
func (t *Telemetry) trackFor(clientID string, now int64) *track {
	if v, ok := t.clients.Load(clientID); ok {
		return v.(*track)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if v, ok := t.clients.Load(clientID); ok {
		return v.(*track)
	}
	if t.tracked >= t.maxClients {
		t.forgetOldestLocked()
	}
	tr := &track{id: clientID, fields: map[string]*ring[float64]{}}
	tr.seen.Store(now)
	t.clients.Store(clientID, tr)
	t.tracked++
	return tr
}

// forgetOldestLocked drops the client heard from least recently. It scans
// every track, which happens only when a new client arrives while the
// collector is full. A message being recorded for the dropped client
// concurrently is lost, which telemetry can afford. The caller holds t.mu.
func (t *Telemetry) forgetOldestLocked() {
	var oldest *track
	t.clients.Range(func(_, v any) bool {
		if tr := v.(*track); oldest == nil || tr.seen.Load() < oldest.seen.Load() {
			oldest = tr
		}
		return true
	})
	if oldest != nil {
		t.clients.Delete(oldest.id)
		t.tracked--
	}
}

// Snapshot returns a copy of every tracked series, sorted by client ID.
func (t *Telemetry) Snapshot() []Series {
	var out []Series
	t.clients.Range(func(_, v any) bool {
		out = append(out, v.(*track).series())
		return true
	})
	slices.SortFunc(out, func(a, b Series) int { return cmp.Compare(a.ClientID, b.ClientID) })
	if out == nil {
		out = []Series{}
	}
	return out
}

// series copies the track.
func (tr *track) series() Series {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	fields := make(map[string][]float64, len(tr.fields))
	for name, vals := range tr.fields {
		fields[name] = vals.values()
	}
	s := Series{ClientID: tr.id, Topic: tr.topic, Fields: fields, Messages: tr.messages, Bytes: tr.bytes, LastAt: tr.lastAt}
	if n := tr.arrivals.len(); n > 1 {
		if span := time.Duration(tr.arrivals.newest() - tr.arrivals.oldest()).Seconds(); span > 0 {
			s.Rate = float64(n-1) / span
		}
	}
	return s
}

// ring keeps the last values pushed, up to the n given to push, without
// moving them: each message costs one store, not a copy of the window.
type ring[T any] struct {
	buf   []T
	start int // index of the oldest value once buf is full
}

// push adds v, replacing the oldest value once n are held.
func (r *ring[T]) push(v T, n int) {
	if len(r.buf) < n {
		r.buf = append(r.buf, v)
		return
	}
	r.buf[r.start] = v
	r.start = (r.start + 1) % len(r.buf)
}

func (r *ring[T]) len() int { return len(r.buf) }

func (r *ring[T]) oldest() T { return r.buf[r.start] }

func (r *ring[T]) newest() T { return r.buf[(r.start+len(r.buf)-1)%len(r.buf)] }

// values returns a copy, oldest first.
func (r *ring[T]) values() []T {
	return append(slices.Clone(r.buf[r.start:]), r.buf[:r.start]...)
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
