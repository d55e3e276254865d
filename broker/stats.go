package broker

import "sync/atomic"

// Stats are the broker's running totals since it started, read from mochi's
// own atomic counters, so reading them costs the MQTT path nothing.
type Stats struct {
	MessagesIn  int64 // PUBLISH packets received from clients
	MessagesOut int64 // PUBLISH packets sent to clients
	BytesIn     int64 // bytes read from clients (MQTT packets)
	BytesOut    int64 // bytes written to clients
	// Dropped counts messages not delivered because a subscriber's outbound
	// queue was full (a slow subscriber).
	Dropped int64
}

// Stats returns the running totals.
func (b *Broker) Stats() Stats {
	i := b.server.Info
	return Stats{
		MessagesIn:  atomic.LoadInt64(&i.MessagesReceived),
		MessagesOut: atomic.LoadInt64(&i.MessagesSent),
		BytesIn:     atomic.LoadInt64(&i.BytesReceived),
		BytesOut:    atomic.LoadInt64(&i.BytesSent),
		Dropped:     atomic.LoadInt64(&i.MessagesDropped),
	}
}
