package app

import (
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/store"
)

// lastSeen remembers, in memory, when each certificate last had a session.
// The store records only the first use, so that handshakes never write; the
// listings overlay these times, and "now" for certificates connected at the
// moment.
type lastSeen struct {
	mu sync.Mutex
	at map[string]time.Time
}

// observe is wired in front of the hub: it notes connects and disconnects.
func (l *lastSeen) observe(e broker.Event) {
	if e.CertID == "" || (e.Type != broker.EventConnected && e.Type != broker.EventDisconnected) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.at == nil {
		l.at = map[string]time.Time{}
	}
	if e.At.After(l.at[e.CertID]) {
		l.at[e.CertID] = e.At
	}
}

// overlay updates c.LastSeen with what is known in memory.
func (l *lastSeen) overlay(c *store.Cert, live int, now time.Time) {
	if live > 0 {
		c.LastSeen = now
		return
	}
	l.mu.Lock()
	at := l.at[c.ID]
	l.mu.Unlock()
	if at.After(c.LastSeen) {
		c.LastSeen = at
	}
}
