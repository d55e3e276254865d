package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// header is what every payload starts with: send time (unix ns), publisher
// index, sequence number; the rest is padding up to --size.
const header = 8 + 4 + 8

// pubsubOpts configures the pubsub mode.
type pubsubOpts struct {
	publishers, subscribers int
	qos                     byte
	rate                    float64 // total offered msgs/s over all publishers; 0: unpaced
	size                    int
	count                   int // total messages; 0: until duration
	duration, drain         time.Duration
	topic                   string // {cn} is replaced by each client's certificate CN
	inflight                int    // QoS 1 window per publisher
	proc                    brokerProc
}

// subResult is one subscriber's count.
type subResult struct {
	Received int `json:"received"`
	Lost     int `json:"lost"`
}

// pubsubResult is the pubsub mode's report.
type pubsubResult struct {
	Mode        string       `json:"mode"`
	Target      string       `json:"target"`
	Publishers  int          `json:"publishers"`
	Subscribers int          `json:"subscribers"`
	QoS         int          `json:"qos"`
	Size        int          `json:"size"`
	Offered     float64      `json:"offered_per_s"` // 0: unpaced
	Sent        int          `json:"sent"`
	SendRate    float64      `json:"sent_per_s"`
	Elapsed     float64      `json:"elapsed_s"` // publishing time
	Received    int          `json:"received"`  // over all subscribers
	RecvRate    float64      `json:"received_per_s"`
	Lost        int          `json:"lost"` // over all subscribers: sent*subscribers - received
	LossPct     float64      `json:"loss_pct"`
	PerSub      []subResult  `json:"per_subscriber"`
	Latency     latency      `json:"latency"` // publish to delivery
	Errors      errorCounts  `json:"errors"`
	Broker      *brokerStats `json:"broker,omitempty"` // from the first publish to the end of the drain
}

// subscriber counts what one subscription delivers.
type subscriber struct {
	c        *conn
	received atomic.Int64
	lat      *reservoir
	err      error
	done     chan struct{}
}

// runPubsub connects the subscribers, then the publishers, publishes, waits up
// to o.drain for the last deliveries and counts what each subscriber lost.
func runPubsub(ctx context.Context, t *target, o pubsubOpts) (pubsubResult, error) {
	r := pubsubResult{Mode: "pubsub", Target: t.addr, Publishers: o.publishers, Subscribers: o.subscribers,
		QoS: int(o.qos), Size: o.size, Offered: o.rate}
	subs := make([]*subscriber, o.subscribers)
	defer func() {
		for _, s := range subs {
			if s != nil {
				s.c.disconnect()
				<-s.done
			}
		}
	}()
	for i := range subs {
		id := t.id(i)
		c, _, err := open(ctx, t, id, fmt.Sprintf("mqttbench-s%d", i), 64<<10)
		if err == nil {
			err = c.subscribe(expand(o.topic, id.cn)+"/#", o.qos, t.timeout)
			if err != nil {
				c.close()
			}
		}
		if err != nil {
			return r, fmt.Errorf("subscriber %d (%s): %w", i, id.name, err)
		}
		s := &subscriber{c: c, lat: newReservoir(100_000), done: make(chan struct{})}
		subs[i] = s
		go s.run(o.qos)
	}
	pubs := make([]*conn, o.publishers)
	defer func() {
		for _, c := range pubs {
			if c != nil {
				c.disconnect()
			}
		}
	}()
	for i := range pubs {
		id := t.id(o.subscribers + i)
		c, _, err := open(ctx, t, id, fmt.Sprintf("mqttbench-p%d", i), 4<<10)
		if err != nil {
			return r, fmt.Errorf("publisher %d (%s): %w", i, id.name, err)
		}
		pubs[i] = c
	}

	pctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	sent := make([]int, o.publishers)
	errs := make([]errorCounts, o.publishers)
	var wg sync.WaitGroup
	bs := o.proc.start()
	start := time.Now()
	for i, c := range pubs {
		n := 0
		if o.count > 0 {
			n = o.count / o.publishers
			if i < o.count%o.publishers {
				n++
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			topic := fmt.Sprintf("%s/p%d", expand(o.topic, t.id(o.subscribers+i).cn), i)
			sent[i], errs[i] = publish(pctx, c, i, topic, n, o)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	for i := range pubs {
		r.Sent += sent[i]
		r.Errors.merge(errs[i])
	}

	want := int64(r.Sent)
	deadline := time.Now().Add(o.drain)
	for _, s := range subs {
		for s.received.Load() < want && time.Now().Before(deadline) && ctx.Err() == nil && !s.closed() {
			time.Sleep(5 * time.Millisecond)
		}
	}
	recvElapsed := time.Since(start)
	o.proc.stop(bs, r.Sent)
	r.Broker = bs
	var lat []time.Duration
	for i, s := range subs {
		s.c.disconnect()
		<-s.done
		subs[i] = nil
		if s.err != nil {
			r.Errors.add(fmt.Errorf("subscriber %d: %w", i, s.err))
		}
		got := int(s.received.Load())
		r.PerSub = append(r.PerSub, subResult{Received: got, Lost: max(0, r.Sent-got)})
		r.Received += got
		r.Lost += max(0, r.Sent-got)
		lat = append(lat, s.lat.samples...)
	}
	r.Elapsed, r.SendRate = seconds(elapsed), rate(r.Sent, elapsed)
	r.RecvRate = rate(r.Received, recvElapsed)
	if r.Sent > 0 {
		r.LossPct = 100 * float64(r.Lost) / float64(r.Sent*o.subscribers)
	}
	r.Latency = summarize(lat)
	return r, nil
}

// expand puts a client's CN into a topic template.
func expand(topic, cn string) string { return strings.ReplaceAll(topic, "{cn}", cn) }

// publish sends n messages (0: until ctx ends) at o.rate/o.publishers per
// second, or as fast as the socket takes them when unpaced. Paced sends keep
// to a schedule from the start, so a late wake-up sends the backlog at once
// rather than lowering the offered rate.
func publish(ctx context.Context, c *conn, idx int, topic string, n int, o pubsubOpts) (int, errorCounts) {
	var errs errorCounts
	var window chan struct{}
	if o.qos == 1 {
		window = make(chan struct{}, o.inflight)
	}
	readerDone := make(chan struct{})
	go func() { // drains PUBACKs (QoS 1) and notices a broker that hangs up
		defer close(readerDone)
		for {
			pk, err := c.read()
			if err != nil {
				return
			}
			if pk.FixedHeader.Type == packets.Puback && window != nil {
				<-window
			}
		}
	}()
	var interval time.Duration
	if o.rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(o.publishers) / o.rate)
	}
	payload := make([]byte, o.size)
	binary.BigEndian.PutUint32(payload[8:], uint32(idx))
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: o.qos}, TopicName: topic, ProtocolVersion: 4}
	start := time.Now()
	sent := 0
	for ; n == 0 || sent < n; sent++ {
		if interval > 0 {
			if wait := time.Until(start.Add(time.Duration(sent) * interval)); wait > 0 {
				select {
				case <-ctx.Done():
					return sent, errs
				case <-time.After(wait):
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		if window != nil {
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return sent, errs
			case <-readerDone:
				errs.add(fmt.Errorf("publisher %d: closed by broker: %w", idx, errClosed))
				return sent, errs
			}
			pk.PacketID = uint16(sent%65535) + 1
		}
		binary.BigEndian.PutUint64(payload[0:], uint64(time.Now().UnixNano()))
		binary.BigEndian.PutUint64(payload[12:], uint64(sent))
		pk.Payload = payload
		if err := c.write(pk); err != nil {
			errs.add(fmt.Errorf("publisher %d: %w", idx, err))
			return sent, errs
		}
	}
	if window != nil { // wait for the last PUBACKs, as a QoS 1 sender would
		deadline := time.After(o.drain)
		for len(window) > 0 {
			select {
			case <-deadline:
				errs.add(fmt.Errorf("publisher %d: %d PUBACKs missing after %s: %w", idx, len(window), o.drain, errTimeout))
				return sent, errs
			case <-readerDone:
				return sent, errs
			case <-time.After(time.Millisecond):
			}
		}
	}
	return sent, errs
}

// closed reports whether the subscriber's connection has ended.
func (s *subscriber) closed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// run reads deliveries until the connection closes, answering QoS 1 with
// PUBACK and sampling the publish-to-delivery latency.
func (s *subscriber) run(qos byte) {
	defer close(s.done)
	for {
		pk, err := s.c.read()
		if err != nil {
			if !s.c.closing.Load() {
				s.err = err
			}
			return
		}
		if pk.FixedHeader.Type != packets.Publish {
			continue
		}
		now := time.Now()
		if len(pk.Payload) >= header {
			s.lat.add(now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(pk.Payload)))))
		}
		s.received.Add(1)
		if pk.FixedHeader.Qos > 0 && qos > 0 {
			ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID, ProtocolVersion: 4}
			if err := s.c.write(ack); err != nil {
				s.err = err
				return
			}
		}
	}
}
