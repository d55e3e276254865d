package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
)

// The human summaries: one headline, then the figures, then the errors.

func (l latency) String() string {
	if l.N == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %.2f ms  p99 %.2f ms  max %.2f ms  (n=%d)", l.P50, l.P99, l.Max, l.N)
}

func (e errorCounts) print(w io.Writer) {
	for _, k := range slices.Sorted(maps.Keys(e.Kinds)) {
		fmt.Fprintf(w, "  error %-16s %d  (first: %s)\n", k, e.Kinds[k], e.First[k])
	}
}

func (r connectResult) text(w io.Writer) {
	fmt.Fprintf(w, "connect %s: %d connects in %.2fs (%.1f/s), %d workers, %d errors, stopped by %s\n",
		r.Target, r.Connects, r.Elapsed, r.Rate, r.Workers, r.Errors.Total, r.StoppedBy)
	fmt.Fprintf(w, "  handshake  %s\n", r.Handshake)
	fmt.Fprintf(w, "  connect    %s  (handshake + CONNECT/CONNACK)\n", r.Connect)
	if r.Resumed > 0 {
		fmt.Fprintf(w, "  resumed    %d of %d handshakes\n", r.Resumed, r.Connects)
	}
	r.Errors.print(w)
}

func (r pubsubResult) text(w io.Writer) {
	offered := "unpaced"
	if r.Offered > 0 {
		offered = fmt.Sprintf("offered %.0f/s", r.Offered)
	}
	fmt.Fprintf(w, "pubsub %s: %d -> %d, QoS %d, %d B, %s: sent %d in %.2fs (%.0f/s)\n",
		r.Target, r.Publishers, r.Subscribers, r.QoS, r.Size, offered, r.Sent, r.Elapsed, r.SendRate)
	fmt.Fprintf(w, "  received %d (%.0f/s), lost %d (%.3f%%)\n", r.Received, r.RecvRate, r.Lost, r.LossPct)
	for i, s := range r.PerSub {
		if s.Lost > 0 {
			fmt.Fprintf(w, "  subscriber %d lost %d of %d\n", i, s.Lost, s.Received+s.Lost)
		}
	}
	fmt.Fprintf(w, "  latency  %s\n", r.Latency)
	r.Errors.print(w)
}

func (r idleResult) text(w io.Writer) {
	fmt.Fprintf(w, "idle %s: held %d of %d for %.1fs (opened %d in %.2fs, %.0f/s; %d dropped, %d errors)\n",
		r.Target, r.Held, r.Conns, r.Hold, r.Opened, r.OpenElapsed, r.OpenRate, r.Dropped, r.Errors.Total)
	fmt.Fprintf(w, "  handshake  %s\n", r.Handshake)
	r.Errors.print(w)
}

func (r suspendResult) text(w io.Writer) {
	fmt.Fprintf(w, "suspend %s: %d of %d sessions on %s closed, last EOF %.1f ms after %s (first %.1f ms); %d of %d others up\n",
		r.Target, r.Closed, r.Sessions, r.Victim, r.ToLastEOF, r.From, r.ToFirstEOF, r.OthersUp, r.Others)
	if r.Trigger != "" {
		fmt.Fprintf(w, "  trigger %q ran %.1f ms\n", r.Trigger, r.TriggerMS)
	}
	fmt.Fprintf(w, "  eof  %s\n", r.EOF)
	r.Errors.print(w)
}

func (s *brokerStats) print(w io.Writer) {
	if s == nil {
		return
	}
	fmt.Fprintf(w, "  broker pid %d: %.0f µs CPU, %.1f µs per operation", s.PID, s.CPU, s.CPUPerOp)
	if s.RSSHeld > 0 {
		fmt.Fprintf(w, "; VmRSS %d -> %d KB, %.1f KB per connection", s.RSSBefore, s.RSSHeld, s.KBPerConn)
	}
	fmt.Fprintln(w)
}
