package broker

import (
	"fmt"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// A QoS 0 message mochi cannot queue for a subscriber whose outbound queue
// (Limits.MaxQueued) is full is dropped, never waited for: a slow reader
// must not hold up the publisher or the other subscribers. Each drop is
// counted on the session (Session.DroppedOut) and in total (Stats.Dropped),
// and reported in EventDropped events: the first drop of a quiet session at
// once, the ones after it summed up once per limitEventGap while they go on,
// and the rest when the session ends, so the events' counts add up to the
// session's total and a flood of drops costs one event a second.

// droppedTo counts a message dropped for p's full queue and reports it.
// It runs on the publisher's goroutine.
func (b *Broker) droppedTo(p *peer, clientID string) {
	p.lim.droppedOut.Add(1)
	// Load first: while a report is scheduled, a drop costs one atomic add.
	if !p.lim.dropTimer.Load() && p.lim.dropTimer.CompareAndSwap(false, true) {
		b.reportDrops(p, clientID)
		time.AfterFunc(limitEventGap, func() { b.drainDrops(p, clientID) })
	}
}

// drainDrops reports the drops counted since the last report, and waits
// another gap while there were some; it runs on a timer.
func (b *Broker) drainDrops(p *peer, clientID string) {
	if b.reportDrops(p, clientID) {
		time.AfterFunc(limitEventGap, func() { b.drainDrops(p, clientID) })
		return
	}
	p.lim.dropTimer.Store(false)
	// A drop counted between the report and the store found the timer
	// still armed: report it now rather than at the next drop.
	if p.lim.unreportedDrops() > 0 && p.lim.dropTimer.CompareAndSwap(false, true) {
		b.reportDrops(p, clientID)
		time.AfterFunc(limitEventGap, func() { b.drainDrops(p, clientID) })
	}
}

// reportDrops emits an EventDropped for the drops not reported yet, if any.
func (b *Broker) reportDrops(p *peer, clientID string) bool {
	n := p.lim.unreportedDrops()
	if n == 0 {
		return false
	}
	ev := p.event(EventDropped, fmt.Sprintf("%s: %d %s dropped", ReasonQueueFull, n, plural(n, "message")), clientID)
	ev.Count = n
	b.emit(ev)
	return true
}

// unreportedDrops claims the drops counted since the last claim. Claims
// move reported forward only, so concurrent ones never count a drop twice.
func (l *peerLimits) unreportedDrops() uint64 {
	for {
		done, total := l.dropsReported.Load(), l.droppedOut.Load()
		if total <= done {
			return 0
		}
		if l.dropsReported.CompareAndSwap(done, total) {
			return total - done
		}
	}
}

// OnPublishDropped counts a message dropped because the client's outbound
// queue was full.
func (h *limitHook) OnPublishDropped(cl *mqtt.Client, _ packets.Packet) {
	if p := peerOf(cl); p != nil {
		h.b.droppedTo(p, cl.ID)
	}
}

func plural(n uint64, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
