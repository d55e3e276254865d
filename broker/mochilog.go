package broker

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Limits of what one client can make mochi log.
const (
	// maxLogValue bounds each logged value: mochi logs the whole packet it
	// could not process ("pk", kilobytes of payload and properties).
	maxLogValue = 200
	// logBurst records per client are logged in each logWindow; the rest are
	// counted and the count is logged with the next record let through.
	logBurst  = 5
	logWindow = time.Minute
	// maxLogClients bounds the limiter's memory; past it, clients share one
	// budget until the window turns.
	maxLogClients = 4096
)

// mochiLog is the slog handler mochi logs through. Mochi logs every packet it
// cannot process at WARN with the packet dumped in full, so a misbehaving
// client could inflate the log at will: mochiLog truncates every value to
// maxLogValue bytes and rate-limits warnings and errors per client ID. The
// wrapped handler keeps each record on one line (slog's text and JSON
// handlers quote control characters).
type mochiLog struct {
	next  slog.Handler
	limit *logLimiter // shared by the handlers WithAttrs derives
}

func newMochiLog(next slog.Handler) *mochiLog {
	return &mochiLog{next: next, limit: &logLimiter{clients: map[string]*logBudget{}}}
}

// Enabled defers to the wrapped handler.
func (h *mochiLog) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle truncates the record's values and drops it when its client has used
// up its budget.
func (h *mochiLog) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, truncate(r.Message), r.PC)
	client, hasClient := "", false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "client" {
			client, hasClient = a.Value.String(), true
		}
		out.AddAttrs(truncateAttr(a))
		return true
	})
	if hasClient && r.Level >= slog.LevelWarn {
		ok, suppressed := h.limit.allow(client, r.Time)
		if !ok {
			return nil
		}
		if suppressed > 0 {
			out.AddAttrs(slog.Int("suppressed", suppressed))
		}
	}
	return h.next.Handle(ctx, out)
}

// WithAttrs keeps the limiter shared.
func (h *mochiLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	for i, a := range attrs {
		attrs[i] = truncateAttr(a)
	}
	return &mochiLog{next: h.next.WithAttrs(attrs), limit: h.limit}
}

// WithGroup keeps the limiter shared.
func (h *mochiLog) WithGroup(name string) slog.Handler {
	return &mochiLog{next: h.next.WithGroup(name), limit: h.limit}
}

func truncateAttr(a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString, slog.KindAny, slog.KindGroup:
		return slog.String(a.Key, truncate(a.Value.String()))
	}
	return a
}

// truncate cuts s to maxLogValue bytes, saying how much was cut.
func truncate(s string) string {
	if len(s) <= maxLogValue {
		return s
	}
	return s[:maxLogValue] + "...(truncated)"
}

// logLimiter counts records per client in fixed windows.
type logLimiter struct {
	mu      sync.Mutex
	clients map[string]*logBudget
}

type logBudget struct {
	start      time.Time
	used       int
	suppressed int
}

// allow reports whether a record of client at now may be logged and how many
// were suppressed since the last one that was.
func (l *logLimiter) allow(client string, now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.clients[client]
	if b == nil {
		if len(l.clients) >= maxLogClients {
			for id, old := range l.clients {
				if now.Sub(old.start) >= logWindow {
					delete(l.clients, id)
				}
			}
		}
		if len(l.clients) >= maxLogClients {
			client = "" // the shared budget of clients past the bound
			b = l.clients[client]
		}
		if b == nil {
			b = &logBudget{start: now}
			l.clients[client] = b
		}
	}
	if now.Sub(b.start) >= logWindow {
		b.start, b.used = now, 0
	}
	if b.used >= logBurst {
		b.suppressed++
		return false, 0
	}
	b.used++
	n := b.suppressed
	b.suppressed = 0
	return true, n
}
