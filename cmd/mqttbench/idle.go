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
}

// idleResult is the idle mode's report.
type idleResult struct {
	Mode        string      `json:"mode"`
	Target      string      `json:"target"`
	Conns       int         `json:"conns"`
	Opened      int         `json:"opened"`
	Held        int         `json:"held"`    // still up when the hold ended
	Dropped     int         `json:"dropped"` // opened, then ended by the broker during the hold
	OpenElapsed float64     `json:"open_elapsed_s"`
	OpenRate    float64     `json:"opened_per_s"`
	Hold        float64     `json:"hold_s"`
	Handshake   latency     `json:"handshake"`
	Errors      errorCounts `json:"errors"`
}

// runIdle opens o.conns sessions and holds them for o.duration.
func runIdle(ctx context.Context, t *target, o idleOpts) (idleResult, error) {
	r := idleResult{Mode: "idle", Target: t.addr, Conns: o.conns}
	start := time.Now()
	sessions, hs, errs := openMany(ctx, t, o.conns, o.workers, t.id, "mqttbench-i")
	defer closeAll(sessions)
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
