package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrUnreachable means etcd did not answer the last probe: the node keeps
// enforcing the state it last saw and refuses writes until etcd answers.
var ErrUnreachable = errors.New("etcd unreachable")

// ErrCompacted means etcd compacted away the revision a read transaction
// was reading (a long bulk read overtaken by compaction): reading again, on
// a fresh snapshot, works.
var ErrCompacted = errors.New("etcd compacted the revision being read")

// Unanswered reports whether err is etcd not answering in time, a
// transaction refused while the probe finds etcd unreachable, or a read
// whose revision etcd compacted meanwhile: trying again later can succeed,
// and nothing the store holds is wrong.
func Unanswered(err error) bool {
	return errors.Is(err, ErrUnreachable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrCompacted)
}

// ProbeTimeout bounds one Probe: shorter than a transaction's timeout, so
// that an unreachable etcd is noticed, and reported, within seconds.
const ProbeTimeout = 2 * time.Second

// Health is what a node knows of its etcd.
type Health struct {
	Reachable bool
	// Since is when etcd stopped answering (Reachable false) or answered
	// again (true); zero before the first change.
	Since time.Time
	Err   error // why the last probe failed; nil when Reachable
	// Head is etcd's revision at the last probe that reached it.
	Head int64
	// Applied is the revision this process's Watch has applied up to: Head
	// minus Applied is its lag.
	Applied int64
}

// etcdHealth is the engine's record of the last probes.
type etcdHealth struct {
	mu    sync.Mutex
	down  bool
	since time.Time
	err   error
	head  int64
}

// refuse refuses a transaction while the last probe found etcd unreachable:
// at once and before anything is sent, so that nothing changed and no
// caller waits for etcd's timeout. Reads are refused too: the node serves
// from what it holds in memory (the states it enforces), not from etcd.
func (e *etcdEngine) refuse() error {
	e.health.mu.Lock()
	defer e.health.mu.Unlock()
	if !e.health.down {
		return nil
	}
	return fmt.Errorf("%w since %s UTC (enforcing last known revision %d): refused; nothing changed",
		ErrUnreachable, e.health.since.UTC().Format(time.TimeOnly), e.applied.Load())
}

// markApplied moves the watch position forward (never back).
func (e *etcdEngine) markApplied(rev int64) {
	for {
		cur := e.applied.Load()
		if rev <= cur || e.applied.CompareAndSwap(cur, rev) {
			return
		}
	}
}

// Probe asks etcd for its current revision, within ProbeTimeout, and
// records the answer: while etcd does not answer, the store refuses every
// transaction at once (ErrUnreachable) and the node serves from what it
// last saw. changed
// is true when this probe found etcd's reachability changed. On a bbolt
// store it returns an error wrapping errors.ErrUnsupported.
func (s *Store) Probe(ctx context.Context) (h Health, changed bool, err error) {
	e, ok := s.eng.(*etcdEngine)
	if !ok {
		return Health{}, false, fmt.Errorf("probe store %s: %w: not in etcd", s.path, errors.ErrUnsupported)
	}
	pctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	resp, perr := e.cli.Get(clientv3.WithRequireLeader(pctx), e.prefix+"/"+string(bucketMeta)+"/"+string(keySchema))
	if ctx.Err() != nil {
		return s.health(e), false, ctx.Err()
	}
	now := time.Now()
	e.health.mu.Lock()
	down := perr != nil
	if changed = down != e.health.down; changed {
		e.health.down, e.health.since = down, now
	}
	e.health.err = perr
	if perr == nil {
		e.health.head = resp.Header.Revision
	}
	e.health.mu.Unlock()
	return s.health(e), changed, nil
}

// Health reports what the last Probe found (Reachable with no probe yet).
// On a bbolt store it returns the zero Health.
func (s *Store) Health() Health {
	e, ok := s.eng.(*etcdEngine)
	if !ok {
		return Health{}
	}
	return s.health(e)
}

func (s *Store) health(e *etcdEngine) Health {
	e.health.mu.Lock()
	defer e.health.mu.Unlock()
	return Health{Reachable: !e.health.down, Since: e.health.since, Err: e.health.err, Head: e.health.head, Applied: e.applied.Load()}
}

// Endpoint is one etcd client URL and what its status call answered.
type Endpoint struct {
	URL     string `json:"url"`
	Healthy bool   `json:"healthy"`
	Version string `json:"version,omitempty"`
	Leader  bool   `json:"leader,omitempty"` // this member leads the raft group
	DBSize  int64  `json:"db_size,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Endpoints asks each etcd endpoint for its status, within ProbeTimeout
// each. On a bbolt store it returns an error wrapping errors.ErrUnsupported.
func (s *Store) Endpoints(ctx context.Context) ([]Endpoint, error) {
	e, ok := s.eng.(*etcdEngine)
	if !ok {
		return nil, fmt.Errorf("etcd endpoints of %s: %w: not in etcd", s.path, errors.ErrUnsupported)
	}
	var out []Endpoint
	for _, url := range e.cli.Endpoints() {
		pctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
		st, err := e.cli.Status(pctx, url)
		cancel()
		ep := Endpoint{URL: url}
		if err != nil {
			ep.Error = e.explain(err).Error()
		} else {
			ep.Healthy = len(st.Errors) == 0
			ep.Version, ep.DBSize = st.Version, st.DbSize
			ep.Leader = st.Leader == st.Header.MemberId
			if len(st.Errors) > 0 {
				ep.Error = strings.Join(st.Errors, "; ")
			}
		}
		out = append(out, ep)
	}
	return out, nil
}

// NodeInfo is what a node announces of itself in the cluster, under its
// registry lease: it goes when the node stops or dies.
type NodeInfo struct {
	Name      string    `json:"name"`
	Addrs     []string  `json:"addrs"` // its listeners, transport=address
	Started   time.Time `json:"started"`
	Heartbeat time.Time `json:"heartbeat"`
	Sessions  int       `json:"sessions"`
	Applied   int64     `json:"applied"` // the revision its watch has applied up to
	// Lag is how many revisions etcd's head was ahead of Applied at the
	// heartbeat: the changes the node had yet to apply.
	Lag int64 `json:"lag"`
}

// nodeKey is node name's entry; "" gives the prefix of them all.
func (e *etcdEngine) nodeKey(name string) string { return e.prefix + "/nodes/" + name }

// LiveNode reports whether another process serves as node name now: an
// entry under that name whose heartbeat moves within wait. A node that
// stopped cleanly left no entry; one that died leaves its entry, unchanged,
// until its lease expires, and LiveNode then waits the whole of wait. It
// returns the entry it found last. On a store file there are no nodes.
func (s *Store) LiveNode(ctx context.Context, name string, wait time.Duration) (NodeInfo, bool, error) {
	e, ok := s.eng.(*etcdEngine)
	if !ok {
		return NodeInfo{}, false, nil
	}
	key := e.nodeKey(name)
	gctx, cancel := context.WithTimeout(ctx, e.timeout)
	resp, err := e.cli.Get(gctx, key)
	cancel()
	if err != nil {
		return NodeInfo{}, false, fmt.Errorf("look for node %s: %w", name, e.explain(err))
	}
	if len(resp.Kvs) == 0 {
		return NodeInfo{}, false, nil
	}
	var seen NodeInfo
	if err := json.Unmarshal(resp.Kvs[0].Value, &seen); err != nil {
		return NodeInfo{}, false, fmt.Errorf("node entry %s: %w: %v", key, ErrCorrupt, err)
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for w := range e.cli.Watch(wctx, key, clientv3.WithRev(resp.Header.Revision+1)) {
		for _, ev := range w.Events {
			if ev.Type != mvccpb.PUT {
				return seen, false, nil // deleted: its lease ended
			}
			// A new heartbeat: that node runs.
			if err := json.Unmarshal(ev.Kv.Value, &seen); err != nil {
				return NodeInfo{}, false, fmt.Errorf("node entry %s: %w: %v", key, ErrCorrupt, err)
			}
			return seen, true, nil
		}
	}
	return seen, false, nil
}

// Announce records info as this node's entry under its lease; a node
// announces itself again at every heartbeat.
func (r *SessionRegistry) Announce(info NodeInfo) error {
	raw, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("announce node %s: %w", r.node, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.e.timeout)
	defer cancel()
	if _, err := r.e.cli.Put(ctx, r.e.nodeKey(r.node), string(raw), clientv3.WithLease(r.currentLease())); err != nil {
		return fmt.Errorf("announce node %s: %w", r.node, r.e.explain(err))
	}
	return nil
}

// Nodes lists the nodes whose lease is alive, by name, with what each
// announced last.
func (r *SessionRegistry) Nodes(ctx context.Context) ([]NodeInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, r.e.timeout)
	defer cancel()
	resp, err := r.e.cli.Get(ctx, r.e.nodeKey(""), clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("list cluster nodes: %w", r.e.explain(err))
	}
	out := make([]NodeInfo, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var n NodeInfo
		if err := json.Unmarshal(kv.Value, &n); err != nil {
			return nil, fmt.Errorf("node entry %s: %w: %v", kv.Key, ErrCorrupt, err)
		}
		out = append(out, n)
	}
	return out, nil
}
