package app

import (
	"context"
	"sync"

	"github.com/gatehouse/gatehouse/broker"
)

// Hub fans events out to subscribers and keeps the most recent ones.
//
// Delivery is lossy by design: Emit is called from MQTT client goroutines and
// must never wait for a slow reader (a busy or suspended TUI, a stalled admin
// stream). Each subscriber has a bounded buffer; when it is full the event is
// dropped for that subscriber and it is marked lost. The next event that fits
// is preceded by one broker.EventResync, which tells the reader to reload its state
// from a snapshot. Emit holds the mutex only to copy into buffers.
type Hub struct {
	mu     sync.Mutex
	recent []broker.Event // ring of the last cap(recent) events
	next   int            // ring write position once full
	subs   map[*subscriber]struct{}
}

type subscriber struct {
	ch   chan broker.Event
	lost bool
}

const (
	recentEvents     = 1000
	subscriberBuffer = 4096
)

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{recent: make([]broker.Event, 0, recentEvents), subs: map[*subscriber]struct{}{}}
}

// Emit records e and offers it to every subscriber without blocking.
func (h *Hub) Emit(e broker.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.recent) < cap(h.recent) {
		h.recent = append(h.recent, e)
	} else {
		h.recent[h.next] = e
		h.next = (h.next + 1) % len(h.recent)
	}
	for s := range h.subs {
		if s.lost {
			select {
			case s.ch <- broker.Event{At: e.At, Type: broker.EventResync}:
				s.lost = false
			default:
				continue
			}
		}
		select {
		case s.ch <- e:
		default:
			s.lost = true
		}
	}
}

// seed fills the recent ring with evs (oldest first, the persisted history),
// without offering them to subscribers.
func (h *Hub) seed(evs []broker.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range evs[max(0, len(evs)-cap(h.recent)):] {
		if len(h.recent) < cap(h.recent) {
			h.recent = append(h.recent, e)
		} else {
			h.recent[h.next] = e
			h.next = (h.next + 1) % len(h.recent)
		}
	}
}

// Recent returns the retained events, oldest first.
func (h *Hub) Recent() []broker.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]broker.Event, 0, len(h.recent))
	out = append(out, h.recent[h.next:]...)
	return append(out, h.recent[:h.next]...)
}

// Subscribe returns a channel of events that closes when ctx ends.
func (h *Hub) Subscribe(ctx context.Context) <-chan broker.Event {
	s := &subscriber{ch: make(chan broker.Event, subscriberBuffer)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	go func() {
		<-ctx.Done()
		h.mu.Lock()
		delete(h.subs, s)
		close(s.ch)
		h.mu.Unlock()
	}()
	return s.ch
}
