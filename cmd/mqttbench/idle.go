package main

import (
	"context"
	"fmt"
	"os"
	"time"
)

// idleOpts configures the idle mode.
type idleOpts struct {
	conns, workers int
	duration       time.Duration // how long to hold once open
	readyFile      string        // written once every connection that could open is open
	settle         time.Duration // after opening, when to sample the broker's memory
	proc           brokerProc
}

// idleResult is the idle mode's report.
type idleResult struct {
	Mode        string       `json:"mode"`
	Target      string       `json:"target"`
	Conns       int          `json:"conns"`
	Opened      int          `json:"opened"`
	Held        int          `json:"held"`    // still up when the hold ended
	Dropped     int          `json:"dropped"` // opened, then ended by the broker during the hold
	OpenElapsed float64      `json:"open_elapsed_s"`
	OpenRate    float64      `json:"opened_per_s"`
	Hold        float64      `json:"hold_s"`
	Handshake   latency      `json:"handshake"`
	Errors      errorCounts  `json:"errors"`
	Broker      *brokerStats `json:"broker,omitempty"` // CPU per connection opened, RSS per connection held
}

// runIdle opens o.conns sessions and holds them for o.duration.
func runIdle(ctx context.Context, t *target, o idleOpts) (idleResult, error) {
	r := idleResult{Mode: "idle", Target: t.addr, Conns: o.conns}
	bs := o.proc.start()
	if bs != nil {
		o.proc.sampleRSS(bs, &bs.RSSBefore)
	}
	start := time.Now()
	octx, cancel := context.WithTimeout(ctx, maxDuration) // opening, too, is bounded
	sessions, hs, errs := openMany(octx, t, o.conns, o.workers, t.id, "mqttbench-i")
	cancel()
	defer closeAll(sessions)
	o.proc.stop(bs, len(sessions))
	r.Broker = bs
	r.OpenElapsed = seconds(time.Since(start))
	r.Opened, r.OpenRate, r.Handshake, r.Errors = len(sessions), rate(len(sessions), time.Since(start)), summarize(hs), errs
	if o.readyFile != "" {
		if err := writeReady(o.readyFile, fmt.Sprintf("%d\n", r.Opened)); err != nil {
			return r, err
		}
	}
	hctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	go keepAlive(hctx, t, sessions)
	held := time.Now()
	select {
	case <-time.After(o.settle):
	case <-hctx.Done():
	}
	if bs != nil {
		o.proc.sampleRSS(bs, &bs.RSSHeld)
		if len(sessions) > 0 {
			bs.KBPerConn = float64(bs.RSSHeld-bs.RSSBefore) / float64(len(sessions))
		}
	}
	<-hctx.Done()
	r.Hold = seconds(time.Since(held))
	r.Held = countAlive(sessions)
	r.Dropped = r.Opened - r.Held
	return r, nil
}

// writeReady writes the ready file atomically, so a script polling for it
// never reads it half written.
func writeReady(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return fmt.Errorf("write ready file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write ready file: %w", err)
	}
	return nil
}
