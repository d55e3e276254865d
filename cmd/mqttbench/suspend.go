package main

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"time"
)

// suspendOpts configures the suspend mode.
type suspendOpts struct {
	sessions, others, workers int
	victim                    int // index of the victim identity in the target
	// trigger suspends the victim certificate; nil waits for an operator.
	trigger     func(context.Context) error
	triggerDesc string
	duration    time.Duration // bound on the wait for the last EOF
	settle      time.Duration // then how long the others must stay up
	notify      io.Writer     // where the wait for an operator is announced
	proc        brokerProc
}

// suspendResult is the suspend mode's report.
type suspendResult struct {
	Mode          string       `json:"mode"`
	Target        string       `json:"target"`
	Victim        string       `json:"victim"`
	Sessions      int          `json:"sessions"`
	Others        int          `json:"others"`
	Trigger       string       `json:"trigger,omitempty"`
	TriggerMS     float64      `json:"trigger_ms,omitempty"` // the trigger's own run time
	TriggerError  string       `json:"trigger_error,omitempty"`
	From          string       `json:"from"` // "trigger start" or "first EOF"
	Closed        int          `json:"closed"`
	ToFirstEOF    float64      `json:"to_first_eof_ms"`
	ToLastEOF     float64      `json:"to_last_eof_ms"`
	EOF           latency      `json:"eof"` // every victim session's time to EOF
	OthersUp      int          `json:"others_up"`
	OthersDropped int          `json:"others_dropped"`
	Errors        errorCounts  `json:"errors"`
	Broker        *brokerStats `json:"broker,omitempty"` // from the trigger to the last EOF, per session closed
}

// runSuspend holds o.sessions sessions on the victim certificate and o.others
// on the other certificates, runs the trigger (or waits for an operator) and
// measures from the trigger's start to the EOF of the last victim session,
// then checks that none of the others went down. The error is the verdict.
func runSuspend(ctx context.Context, t *target, o suspendOpts) (suspendResult, error) {
	victim := t.ids[o.victim]
	r := suspendResult{Mode: "suspend", Target: t.addr, Victim: victim.name, Sessions: o.sessions, Others: o.others,
		Trigger: o.triggerDesc}
	var rest []identity
	for i, id := range t.ids {
		if i != o.victim {
			rest = append(rest, id)
		}
	}
	octx, cancel := context.WithTimeout(ctx, maxDuration) // opening, too, is bounded
	defer cancel()
	victims, _, verrs := openMany(octx, t, o.sessions, o.workers, func(int) identity { return victim }, "mqttbench-v")
	defer closeAll(victims)
	others, _, oerrs := openMany(octx, t, o.others, o.workers, func(i int) identity { return rest[i%len(rest)] }, "mqttbench-o")
	defer closeAll(others)
	r.Errors.merge(verrs)
	r.Errors.merge(oerrs)
	if len(victims) < o.sessions || len(others) < o.others {
		return r, fmt.Errorf("opened %d of %d victim and %d of %d other sessions", len(victims), o.sessions, len(others), o.others)
	}
	if n := countAlive(victims); n < len(victims) {
		return r, fmt.Errorf("%d victim sessions ended before the trigger", len(victims)-n)
	}
	wctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	go keepAlive(wctx, t, append(append([]*session(nil), victims...), others...))

	bs := o.proc.start()
	t0 := time.Now()
	trig := make(chan struct{})
	if o.trigger != nil {
		r.From = "trigger start"
		go func() {
			defer close(trig)
			if err := o.trigger(wctx); err != nil {
				r.TriggerError = err.Error()
			}
			r.TriggerMS = ms(time.Since(t0))
		}()
	} else {
		r.From = "first EOF"
		close(trig)
		fmt.Fprintf(o.notify, "suspend: %d sessions on %s and %d others are up; suspend %s now (waiting up to %s)\n",
			len(victims), victim.name, len(others), victim.name, o.duration)
	}
	for _, s := range victims {
		select {
		case <-s.ended:
		case <-wctx.Done():
		}
	}
	<-trig
	var ends []time.Time
	for _, s := range victims {
		if !s.alive() {
			ends = append(ends, s.endedAt)
		}
	}
	r.Closed = len(ends)
	o.proc.stop(bs, r.Closed)
	r.Broker = bs
	if o.trigger == nil && len(ends) > 0 {
		t0 = ends[0]
		for _, e := range ends {
			if e.Before(t0) {
				t0 = e
			}
		}
	}
	eof := make([]time.Duration, len(ends))
	for i, e := range ends {
		eof[i] = e.Sub(t0)
	}
	r.EOF = summarize(eof)
	if len(eof) > 0 {
		r.ToFirstEOF, r.ToLastEOF = ms(eof[0]), ms(eof[len(eof)-1])
	}
	time.Sleep(o.settle)
	r.OthersUp = countAlive(others)
	r.OthersDropped = len(others) - r.OthersUp
	switch {
	case r.TriggerError != "":
		return r, fmt.Errorf("trigger %q: %s", o.triggerDesc, r.TriggerError)
	case r.Closed < len(victims):
		return r, fmt.Errorf("only %d of %d victim sessions ended within %s", r.Closed, len(victims), o.duration)
	case r.OthersDropped > 0:
		return r, fmt.Errorf("%d of %d other sessions went down too", r.OthersDropped, len(others))
	}
	return r, nil
}

// commandTrigger runs cmd with sh -c, its output to w.
func commandTrigger(cmd string, w io.Writer) func(context.Context) error {
	return func(ctx context.Context) error {
		c := exec.CommandContext(ctx, "sh", "-c", cmd)
		c.Stdout, c.Stderr = w, w
		return c.Run()
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
