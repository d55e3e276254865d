package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/store"
)

// sessionClaims is this node's view of its registry entries and the queue
// of the entries to write. Connects and disconnects reach it synchronously
// (observeClaim, from emit), so none is lost however many arrive at once;
// they only count the client ID's sessions and queue the ID, so emit never
// waits for etcd. One worker (syncClaims) writes the queued IDs' claims and
// releases in batches. The queue holds each client ID once: a connect and
// a disconnect that meet there are one write of what holds when it is
// written (a claim while a session is live here, else a release).
type sessionClaims struct {
	mu   sync.Mutex
	off  bool             // no registry (a store file): nothing is queued
	live map[string]int   // client ID -> sessions live on this node
	rev  map[string]int64 // client ID -> revision of this node's last claim written
	// queued are the client IDs whose entry is to be written; writing,
	// those of the batch being written.
	queued, writing map[string]struct{}
	// rival is, for a client ID whose claim is queued or being written, the
	// latest claim of another node seen meanwhile: compared with this
	// node's claim once written.
	rival map[string]rivalClaim
	wake  chan struct{} // signalled when queued gains an ID; capacity 1
}

// rivalClaim is another node's claim of a client ID.
type rivalClaim struct {
	node string
	rev  int64
}

// prepare makes the maps and the wake-up channel; the caller holds mu.
func (c *sessionClaims) prepare() {
	if c.wake == nil {
		c.live, c.rev, c.rival = map[string]int{}, map[string]int64{}, map[string]rivalClaim{}
		c.queued, c.writing = map[string]struct{}{}, map[string]struct{}{}
		c.wake = make(chan struct{}, 1)
	}
}

// unwritten reports whether this node's entry of clientID is still to be
// written; the caller holds mu.
func (c *sessionClaims) unwritten(clientID string) bool {
	_, q := c.queued[clientID]
	_, w := c.writing[clientID]
	return q || w
}

// observeClaim counts a connect or disconnect of a cluster node's client ID
// and queues its registry entry to be written. It never blocks on etcd.
func (a *App) observeClaim(e broker.Event) {
	var d int
	switch {
	case a.node == "" || e.ClientID == "":
		return
	case e.Type == broker.EventConnected:
		d = 1
	case e.Type == broker.EventDisconnected:
		d = -1
	default:
		return
	}
	c := &a.claims
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.off {
		return
	}
	c.prepare()
	if n := c.live[e.ClientID] + d; n > 0 {
		c.live[e.ClientID] = n
	} else {
		delete(c.live, e.ClientID)
	}
	c.queued[e.ClientID] = struct{}{}
	select {
	case c.wake <- struct{}{}:
	default: // the worker is already due to look
	}
}

// stopClaims empties the queue and queues nothing more: the node has no
// registry to write to.
func (a *App) stopClaims() {
	c := &a.claims
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off = true
	c.live, c.rev, c.rival, c.queued, c.writing = nil, nil, nil, nil, nil
}

// syncClaims writes the queued registry entries to reg, batch after batch,
// until ctx ends.
func (a *App) syncClaims(ctx context.Context, reg *store.SessionRegistry) {
	a.claims.mu.Lock()
	a.claims.prepare()
	wake := a.claims.wake
	a.claims.mu.Unlock()
	failures := 0 // writes failed in a row
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		}
		// A storm of connects or disconnects (a suspend dropping hundreds
		// of sessions) arrives over milliseconds: a short wait writes it in
		// full batches instead of a transaction for the first few.
		select {
		case <-ctx.Done():
			return
		case <-time.After(claimLinger):
		}
		// Until the queue is empty or the node stops (its lease, revoked
		// then, takes every entry with it). Failed writes are tried again
		// after a pause that doubles up to claimRetryMax (an etcd out of
		// space fails every write until an operator frees some).
		for ctx.Err() == nil {
			more, err := a.writeClaims(reg)
			if err != nil {
				if failures++; failures == 1 {
					a.log.Error("registry writes failed: trying again", "err", err)
				}
				select {
				case <-ctx.Done():
				case <-time.After(min(claimRetry<<min(failures-1, 5), claimRetryMax)):
				}
				continue
			}
			if failures > 0 {
				a.log.Info("registry writes go through again", "failed_attempts", failures)
				failures = 0
			}
			if !more {
				break
			}
		}
	}
}

const (
	// claimLinger is how long the registry writer waits after the first
	// queued client ID before it writes: what a takeover across nodes
	// waits for more.
	claimLinger = 25 * time.Millisecond
	// claimRetry is the first pause before a batch etcd failed (it did not
	// answer in time, while the probe still found it) is written again;
	// the pause doubles, up to claimRetryMax, while writes keep failing.
	claimRetry    = time.Second
	claimRetryMax = 30 * time.Second
)

// writeClaims takes up to store.SessionBatch client IDs off the queue and
// writes their entries, the claims in one transaction and the releases in
// another, and reports whether more are queued and the error of a write
// that failed: its client IDs are queued again. While etcd is unreachable nothing is
// queued again: the claims are made again when it answers (askReclaim), and
// the released entries, which name this node, stay until another node
// claims them or this node's lease ends.
func (a *App) writeClaims(reg *store.SessionRegistry) (more bool, failed error) {
	claims, releases := a.claims.take(store.SessionBatch)
	if len(claims) > 0 {
		rev, err := reg.ClaimAll(claims)
		lost := a.claims.claimed(claims, rev, err == nil)
		if err != nil && !errors.Is(err, store.ErrUnreachable) {
			a.claims.requeue(slices.DeleteFunc(claims, func(id string) bool { _, gone := lost[id]; return gone }))
			failed = fmt.Errorf("claim %d sessions: %w", len(claims), err)
		}
		for id, node := range lost {
			a.kickTakenOver(id, node)
		}
	}
	if len(releases) > 0 {
		err := reg.ReleaseAll(releases)
		a.claims.released(releases)
		if err != nil && !errors.Is(err, store.ErrUnreachable) {
			a.claims.requeue(releases)
			failed = errors.Join(failed, fmt.Errorf("release %d sessions: %w", len(releases), err))
		}
	}
	a.claims.mu.Lock()
	defer a.claims.mu.Unlock()
	return len(a.claims.queued) > 0, failed
}

// requeue queues ids again, after their write failed.
func (c *sessionClaims) requeue(ids []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		c.queued[id] = struct{}{}
	}
}

// take moves up to n client IDs from the queue to the batch being written:
// those with a session live here to claim, the others to release.
func (c *sessionClaims) take(n int) (claims, releases []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.queued {
		if len(claims)+len(releases) == n {
			break
		}
		delete(c.queued, id)
		c.writing[id] = struct{}{}
		if c.live[id] > 0 {
			claims = append(claims, id)
		} else {
			releases = append(releases, id)
		}
	}
	return claims, releases
}

// claimed ends the write of the claims of ids, made at rev when ok, and
// returns the client IDs, each with the node that took it over, whose
// session here is to drop: another node claimed it after this node's claim
// (or this node's claim failed) while it was being written.
func (c *sessionClaims) claimed(ids []string, rev int64, ok bool) map[string]string {
	lost := map[string]string{}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		delete(c.writing, id)
		r, rivalled := c.rival[id]
		delete(c.rival, id)
		if c.live[id] == 0 || c.unwritten(id) {
			continue // ended meanwhile, or queued again: the next write settles it
		}
		if ok {
			c.rev[id] = max(c.rev[id], rev)
		}
		if rivalled && r.rev > c.rev[id] {
			lost[id] = r.node
		}
	}
	return lost
}

// released ends the write of the releases of ids.
func (c *sessionClaims) released(ids []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		delete(c.writing, id)
		if c.live[id] == 0 && !c.unwritten(id) {
			delete(c.rev, id)
			delete(c.rival, id)
		}
	}
}

// rivalled records another node's claim of clientID at rev and reports
// whether this node's session of it is to drop now: one is live here and
// this node's last claim written is not newer. While this node's own claim
// is still to be written, that claim will be the later one unless the
// other node's came after it was sent: claimed compares them then.
func (c *sessionClaims) rivalled(clientID, node string, rev int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, here := c.live[clientID]; !here {
		return false
	}
	if c.unwritten(clientID) {
		if rev > c.rival[clientID].rev {
			c.rival[clientID] = rivalClaim{node: node, rev: rev}
		}
		return false
	}
	return c.rev[clientID] <= rev
}
