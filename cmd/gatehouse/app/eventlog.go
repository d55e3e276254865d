package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/store"
)

// DefaultEventRetention bounds the persisted event log when Config does not.
// Its size bound also applies when Config sets none (serve's flags set the
// count and age only): the store's disk is never the log's to fill.
var DefaultEventRetention = store.EventRetention{Keep: 100_000, MaxAge: 30 * 24 * time.Hour, MaxBytes: 64 << 20}

// Event log batching: events are written at most this long after they
// happened, in transactions of at most eventBatch events, so a connect storm
// costs few fsyncs.
const (
	eventFlushDelay = 200 * time.Millisecond
	eventBatch      = 512
	// offlineEventHold bounds the events a cluster node keeps in memory
	// while etcd is unreachable (about 300 bytes each); past it the oldest
	// are dropped, logged.
	offlineEventHold = 1 << 16
)

// maxEventField caps each string of an event a device chooses (its client
// ID, a topic, the CN and remote address of its certificate and connection,
// a reason quoting them), so a device cannot fill the log, the store or a
// screen with one event.
const maxEventField = 256

// capEvent returns e with its device-chosen strings cut to maxEventField
// bytes (see capField).
func capEvent(e broker.Event) broker.Event {
	for _, f := range []*string{&e.ClientID, &e.CN, &e.Topic, &e.Reason, &e.Remote} {
		*f = capField(*f)
	}
	return e
}

// capField cuts s to at most maxEventField bytes on a rune boundary and
// marks the cut with how many bytes it dropped, so a capped value is never
// mistaken for a whole one.
func capField(s string) string {
	if len(s) <= maxEventField {
		return s
	}
	marker := func(dropped int) string { return fmt.Sprintf("…[+%d bytes]", dropped) }
	n := maxEventField - len(marker(len(s)))
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + marker(len(s)-n)
}

// EventQuery selects persisted events. Zero fields select everything.
type EventQuery struct {
	Since  time.Time `json:"since"`
	Types  []string  `json:"types"`  // any of these types
	Serial string    `json:"serial"` // a serial or a prefix of one
	Limit  int       `json:"limit"`  // the newest Limit matching events
}

// Match reports whether e passes the type and serial filters (Since and
// Limit select from the log; a live stream has no use for them).
func (q EventQuery) Match(e broker.Event) bool {
	if len(q.Types) > 0 && !slices.Contains(q.Types, e.Type) {
		return false
	}
	return q.Serial == "" || strings.HasPrefix(e.Serial, strings.ToLower(q.Serial))
}

// startEventLog seeds the hub's recent events from the store, so a restarted
// daemon (or a TUI opened after a crash) shows the history, then persists
// every new event from a hub subscriber: off the MQTT path, batched. A store
// opened read-only gets no writer: a read-only command must leave the file's
// bytes as they were, and it makes no events worth keeping.
func (a *App) startEventLog() error {
	entries, err := a.st.ListEvents(time.Time{}, recentEvents)
	if err != nil {
		return err
	}
	evs := make([]broker.Event, 0, len(entries))
	for _, en := range entries {
		var e broker.Event
		if json.Unmarshal(en.Data, &e) == nil {
			evs = append(evs, e)
		}
	}
	a.hub.seed(evs)
	if a.st.ReadOnly() {
		a.stopPersist, a.persisted = func() {}, make(chan struct{})
		close(a.persisted) // flushEvents and Close then find the log stopped
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.stopPersist, a.persisted, a.flushReq = cancel, make(chan struct{}), make(chan chan struct{})
	go a.persistEvents(a.hub.Subscribe(ctx))
	return nil
}

// persistEvents writes events in batches until ch closes, then flushes the
// rest. Lost events (a resync marker) are reported in the log: the store
// cannot recover them. A flush request writes everything emitted so far.
func (a *App) persistEvents(ch <-chan broker.Event) {
	defer close(a.persisted)
	retention := a.retention
	if retention.MaxBytes == 0 {
		retention.MaxBytes = DefaultEventRetention.MaxBytes
	}
	var batch []store.EventEntry
	var flush <-chan time.Time
	write := func() {
		if len(batch) == 0 {
			return
		}
		n, err := a.st.AppendEvents(batch, retention, a.now())
		batch = batch[:copy(batch, batch[n:])] // what is in the log leaves the batch
		if errors.Is(err, store.ErrUnreachable) || errors.Is(err, context.DeadlineExceeded) {
			// A cluster node cut off from etcd (logged once by probeEtcd)
			// keeps its events and writes them once etcd answers.
			if over := len(batch) - offlineEventHold; over > 0 {
				a.log.Error("etcd unreachable for long: the oldest events held were dropped", "events", over)
				batch = batch[:copy(batch, batch[over:])]
			}
			flush = time.After(eventFlushDelay)
			return
		}
		if err != nil {
			a.log.Error("event log write failed", "events", len(batch), "err", err)
		}
		batch, flush = batch[:0], nil
	}
	add := func(e broker.Event) {
		if e.Type == broker.EventResync {
			a.log.Warn("event log fell behind; some events were not persisted")
			return
		}
		if data, err := json.Marshal(e); err == nil {
			batch = append(batch, store.EventEntry{At: e.At, Data: data})
		}
	}
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				write()
				return
			}
			add(e)
			if len(batch) >= eventBatch {
				write()
			} else if flush == nil {
				flush = time.After(eventFlushDelay)
			}
		case <-flush:
			write()
		case done := <-a.flushReq:
			// The channel already holds every event emitted before the request.
			for drained := false; !drained; {
				select {
				case e, ok := <-ch:
					if !ok {
						write()
						close(done)
						return
					}
					add(e)
				default:
					drained = true
				}
			}
			write()
			close(done)
		}
	}
}

// flushEvents waits until every event emitted so far is in the store, so a
// query right after an action sees it.
func (a *App) flushEvents() {
	done := make(chan struct{})
	select {
	case a.flushReq <- done:
		<-done
	case <-a.persisted: // the log is stopped: it flushed when it stopped
	}
}

// Events implements Service: persisted events matching q, oldest first.
func (a *App) Events(_ context.Context, q EventQuery) ([]broker.Event, error) {
	a.flushEvents()
	entries, err := a.st.ListEvents(q.Since, 0)
	if err != nil {
		return nil, err
	}
	out := []broker.Event{}
	for _, en := range entries {
		var e broker.Event
		if err := json.Unmarshal(en.Data, &e); err != nil {
			return nil, fmt.Errorf("decode event of %s: %w", en.At.Format(time.RFC3339), err)
		}
		if q.Match(e) {
			out = append(out, e)
		}
	}
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[len(out)-q.Limit:]
	}
	return out, nil
}
