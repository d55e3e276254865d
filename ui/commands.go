package ui

import (
	"context"
	"fmt"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/ui/intent"
)

// Timing of the live parts of the TUI.
const (
	eventWindow    = 33 * time.Millisecond // one batch per ~frame: at most ~30 redraws/s
	eventBatchMax  = 1000                  // events per batch, so one Update stays short
	tickEvery      = time.Second           // "connected for" and the linger of dropped rows
	refreshEvery   = 2 * time.Second       // snapshot for session counters
	telemetryEvery = time.Second           // snapshot while the telemetry view is shown
	retryEvery     = time.Second           // resubscribe after the stream failed or ended
	callTimeout    = 30 * time.Second      // actions; RSA key generation can be slow
	readTimeout    = 10 * time.Second      // snapshot, history
)

// Messages produced by commands. Each carries what the command captured, so
// Update can tell a stale answer from a current one.
type (
	describeMsg string
	snapshotMsg struct {
		snap app.Snapshot
		err  error
		full bool // after start, resync or resume: the event stream is replaced too
		gen  int  // Model.gen when it was asked for
	}
	subscribedMsg struct {
		ch  <-chan broker.Event
		err error
	}
	eventsMsg struct {
		ch     <-chan broker.Event
		events []broker.Event
		closed bool
	}
	tickMsg        struct{}
	refreshMsg     struct{}
	resubscribeMsg struct{}
	transitionMsg  struct {
		intent intent.Transition
		res    app.TransitionResult
		purged int // retained messages purged, when the intent asked
		err    error
	}
	createdMsg struct {
		res app.CreateResult
		err error
	}
	historyMsg struct {
		id   string
		recs []store.AuditRecord
		err  error
	}
	clientAuthMsg struct {
		intent  intent.Toggle
		dropped int
		err     error
	}
	exportedMsg struct {
		path string
		err  error
	}
	kickedMsg struct {
		clientID string
		err      error
	}
)

func describe(b Backend) tea.Cmd {
	return func() tea.Msg { return describeMsg(b.Describe()) }
}

func loadSnapshot(ctx context.Context, b Backend, full bool, gen int) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, readTimeout)
		defer cancel()
		s, err := b.Snapshot(ctx)
		return snapshotMsg{snap: s, err: err, full: full, gen: gen}
	}
}

func subscribe(ctx context.Context, b Backend) tea.Cmd {
	return func() tea.Msg {
		ch, err := b.Subscribe(ctx)
		return subscribedMsg{ch: ch, err: err}
	}
}

// readEvents blocks for one event, then gathers whatever else arrives within
// eventWindow, so Update sees batches instead of single events.
func readEvents(ch <-chan broker.Event) tea.Cmd {
	return func() tea.Msg {
		ev, ok := <-ch
		if !ok {
			return eventsMsg{ch: ch, closed: true}
		}
		batch := []broker.Event{ev}
		window := time.NewTimer(eventWindow)
		defer window.Stop()
		for len(batch) < eventBatchMax {
			// Events already waiting are taken before the window is
			// looked at: select picks at random among ready cases, and a
			// busy machine would otherwise cut a full batch short.
			select {
			case ev, ok := <-ch:
				if !ok {
					return eventsMsg{ch: ch, events: batch, closed: true}
				}
				batch = append(batch, ev)
				continue
			default:
			}
			select {
			case ev, ok := <-ch:
				if !ok {
					return eventsMsg{ch: ch, events: batch, closed: true}
				}
				batch = append(batch, ev)
			case <-window.C:
				return eventsMsg{ch: ch, events: batch}
			}
		}
		return eventsMsg{ch: ch, events: batch}
	}
}

func tick() tea.Cmd {
	return tea.Tick(tickEvery, func(time.Time) tea.Msg { return tickMsg{} })
}

func refreshLater(every time.Duration) tea.Cmd {
	return tea.Tick(every, func(time.Time) tea.Msg { return refreshMsg{} })
}

func resubscribeLater() tea.Cmd {
	return tea.Tick(retryEvery, func(time.Time) tea.Msg { return resubscribeMsg{} })
}

func transition(ctx context.Context, b Backend, in intent.Transition) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		res, err := b.Transition(ctx, in.ID, in.To, "")
		msg := transitionMsg{intent: in, res: res, err: err}
		if err == nil && in.PurgeRetained {
			// After the revoke: its sessions are gone and cannot set new ones.
			if msg.purged, err = b.PurgeRetained(ctx, in.ID); err != nil {
				msg.err = fmt.Errorf("revoked, but purging its retained messages failed: %w", err)
			}
		}
		return msg
	}
}

func createCert(ctx context.Context, b Backend, req app.CreateRequest) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		res, err := b.CreateCert(ctx, req)
		return createdMsg{res: res, err: err}
	}
}

func history(ctx context.Context, b Backend, id string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, readTimeout)
		defer cancel()
		recs, err := b.History(ctx, id)
		return historyMsg{id: id, recs: recs, err: err}
	}
}

func setClientAuth(ctx context.Context, b Backend, in intent.Toggle) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		n, err := b.SetClientAuth(ctx, in.Transport, in.On)
		return clientAuthMsg{intent: in, dropped: n, err: err}
	}
}

func exportCA(ctx context.Context, b Backend, path string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		return exportedMsg{path: path, err: b.ExportCA(ctx, path)}
	}
}

func resolve(ctx context.Context, b Backend, verb, query string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, readTimeout)
		defer cancel()
		id, err := b.ResolveSerial(ctx, query)
		return resolvedMsg{verb: verb, query: query, id: id, err: err}
	}
}

func kick(ctx context.Context, b Backend, in intent.Kick) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		return kickedMsg{clientID: in.ClientID, err: b.Kick(ctx, in.ClientID)}
	}
}
