package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// connectOpts configures the connect mode.
type connectOpts struct {
	workers  int
	count    int // total connects; 0: until duration
	duration time.Duration
	resume   bool // offer TLS session resumption (off: every handshake is full)
	proc     brokerProc
}

// connectResult is the connect mode's report.
type connectResult struct {
	Mode      string       `json:"mode"`
	Target    string       `json:"target"`
	Workers   int          `json:"workers"`
	Connects  int          `json:"connects"`
	Resumed   int          `json:"resumed"`
	Elapsed   float64      `json:"elapsed_s"`
	Rate      float64      `json:"connects_per_s"`
	Handshake latency      `json:"handshake"`
	Connect   latency      `json:"connect"` // handshake + CONNECT/CONNACK
	Errors    errorCounts  `json:"errors"`
	StoppedBy string       `json:"stopped_by"` // count or duration
	Broker    *brokerStats `json:"broker,omitempty"`
}

// runConnect runs full connects (TCP, mTLS handshake, CONNECT/CONNACK,
// DISCONNECT) on o.workers workers until o.count or o.duration.
func runConnect(ctx context.Context, t *target, o connectOpts) connectResult {
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	if o.resume {
		t = withResumption(t)
	}
	var next atomic.Int64
	type share struct {
		hs, total []time.Duration
		resumed   int
		errs      errorCounts
	}
	shares := make([]share, o.workers)
	var wg sync.WaitGroup
	bs := o.proc.start()
	start := time.Now()
	for w := range o.workers {
		wg.Add(1)
		go func(s *share) {
			defer wg.Done()
			for ctx.Err() == nil {
				n := int(next.Add(1)) - 1
				if o.count > 0 && n >= o.count {
					return
				}
				t0 := time.Now()
				c, hs, err := open(ctx, t, t.id(n), fmt.Sprintf("mqttbench-c%d-%d", w, n), 512)
				if err != nil {
					if ctx.Err() == nil {
						s.errs.add(err)
					}
					continue
				}
				s.total = append(s.total, time.Since(t0))
				s.hs = append(s.hs, hs)
				if c.tc.ConnectionState().DidResume {
					s.resumed++
				}
				c.disconnect()
			}
		}(&shares[w])
	}
	wg.Wait()
	elapsed := time.Since(start)
	r := connectResult{Mode: "connect", Target: t.addr, Workers: o.workers, Elapsed: seconds(elapsed), StoppedBy: "count"}
	if o.count == 0 || int(next.Load()) < o.count {
		r.StoppedBy = "duration"
	}
	var hs, total []time.Duration
	for _, s := range shares {
		hs, total = append(hs, s.hs...), append(total, s.total...)
		r.Resumed += s.resumed
		r.Errors.merge(s.errs)
	}
	r.Connects = len(total)
	o.proc.stop(bs, r.Connects)
	r.Broker = bs
	r.Rate = rate(r.Connects, elapsed)
	r.Handshake, r.Connect = summarize(hs), summarize(total)
	return r
}

// withResumption gives every identity its own session cache, so that a
// reconnect with the same certificate may resume (TLS 1.3 tickets or 1.2 IDs).
func withResumption(t *target) *target {
	out := *t
	out.ids = make([]identity, len(t.ids))
	for i, id := range t.ids {
		id.tls = id.tls.Clone()
		id.tls.ClientSessionCache = tls.NewLRUClientSessionCache(64)
		out.ids[i] = id
	}
	return &out
}
