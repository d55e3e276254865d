package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// session is a held connection; its reader goroutine notes when it ended.
type session struct {
	c       *conn
	ended   chan struct{}
	endedAt time.Time // written before ended is closed
}

func (s *session) read() {
	for {
		if _, err := s.c.read(); err != nil {
			s.endedAt = time.Now()
			close(s.ended)
			return
		}
	}
}

func (s *session) alive() bool {
	select {
	case <-s.ended:
		return false
	default:
		return true
	}
}

// openMany opens n sessions, workers at a time, the i-th with idOf(i), and
// starts their readers. Sessions that fail are counted, not retried.
func openMany(ctx context.Context, t *target, n, workers int, idOf func(int) identity, prefix string) ([]*session, []time.Duration, errorCounts) {
	out := make([]*session, n)
	hs := make([]time.Duration, n)
	errs := make([]errorCounts, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, d, err := open(ctx, t, idOf(i), fmt.Sprintf("%s-%d", prefix, i), 64)
				if err != nil {
					errs[w].add(err)
					continue
				}
				s := &session{c: c, ended: make(chan struct{})}
				go s.read()
				out[i], hs[i] = s, d
			}
		}()
	}
	wg.Wait()
	var all errorCounts
	for _, e := range errs {
		all.merge(e)
	}
	var ok []*session
	var okHS []time.Duration
	for i, s := range out {
		if s != nil {
			ok, okHS = append(ok, s), append(okHS, hs[i])
		}
	}
	return ok, okHS, all
}

// keepAlive pings every session at half the keepalive interval until ctx
// ends, so that holding longer than the keepalive is not a timeout.
func keepAlive(ctx context.Context, t *target, sessions []*session) {
	tick := time.NewTicker(t.keepalive / 2)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			for _, s := range sessions {
				if s.alive() {
					_ = s.c.ping()
				}
			}
		}
	}
}

// closeAll disconnects every session and waits for its reader.
func closeAll(sessions []*session) {
	for _, s := range sessions {
		s.c.disconnect()
		<-s.ended
	}
}

func countAlive(sessions []*session) int {
	n := 0
	for _, s := range sessions {
		if s.alive() {
			n++
		}
	}
	return n
}
