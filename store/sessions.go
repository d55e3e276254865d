package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// DefaultSessionTTL is how long the session registry keeps a node's entries
// after the node stopped renewing its lease (it died or lost etcd).
const DefaultSessionTTL = 10 * time.Second

// SessionRegistry is the cluster-wide map of MQTT client IDs to the node
// that holds each one's session, kept in etcd under PREFIX/sessions/ and
// under the node's lease: the entries of a node that dies go when its lease
// expires. A client ID has one owner: the node that claimed it last.
type SessionRegistry struct {
	e       *etcdEngine
	node    string
	ttl     time.Duration
	reclaim func(*SessionRegistry)
	opened  int64 // the revision the registry was opened at; Watch starts after it
	stop    context.CancelFunc
	done    chan struct{}

	mu    sync.Mutex
	lease clientv3.LeaseID // the current one: a lost lease is replaced
}

// Sessions opens node's session registry: it grants a lease of ttl, kept
// alive until Close. Should the lease expire all the same (etcd unreachable
// for longer than ttl), the registry takes a new one as soon as etcd answers
// and then calls reclaim with the registry, which claims this node's live
// sessions again. On
// a bbolt store, which one broker serves, it returns an error wrapping
// errors.ErrUnsupported.
func (s *Store) Sessions(node string, ttl time.Duration, reclaim func(*SessionRegistry)) (*SessionRegistry, error) {
	e, ok := s.eng.(*etcdEngine)
	if !ok {
		return nil, fmt.Errorf("session registry of %s: %w: a store file has one broker", s.path, errors.ErrUnsupported)
	}
	kctx, stop := context.WithCancel(context.Background())
	r := &SessionRegistry{e: e, node: node, ttl: ttl, reclaim: reclaim, stop: stop, done: make(chan struct{})}
	alive, err := r.grant(kctx)
	if err != nil {
		stop()
		return nil, err
	}
	go r.keepAlive(kctx, alive)
	return r, nil
}

// grant takes a new lease and starts renewing it.
func (r *SessionRegistry) grant(ctx context.Context) (<-chan *clientv3.LeaseKeepAliveResponse, error) {
	gctx, cancel := context.WithTimeout(ctx, r.e.timeout)
	defer cancel()
	grant, err := r.e.cli.Grant(gctx, int64(r.ttl.Seconds()))
	if err != nil {
		return nil, fmt.Errorf("session registry of node %s: grant lease: %w", r.node, r.e.explain(err))
	}
	alive, err := r.e.cli.KeepAlive(ctx, grant.ID)
	if err != nil {
		return nil, fmt.Errorf("session registry of node %s: keep lease alive: %w", r.node, r.e.explain(err))
	}
	r.mu.Lock()
	if r.opened == 0 {
		r.opened = grant.Revision
	}
	r.lease = grant.ID
	r.mu.Unlock()
	return alive, nil
}

// keepAlive reads the lease's renewals (the client needs them read) and,
// when the lease is lost, takes a new one and has the sessions claimed again.
func (r *SessionRegistry) keepAlive(ctx context.Context, alive <-chan *clientv3.LeaseKeepAliveResponse) {
	defer close(r.done)
	for {
		for range alive {
		}
		for ctx.Err() == nil {
			var err error
			if alive, err = r.grant(ctx); err == nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(watchRetry):
			}
		}
		if ctx.Err() != nil {
			return
		}
		r.reclaim(r)
	}
}

func (r *SessionRegistry) currentLease() clientv3.LeaseID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lease
}

func (r *SessionRegistry) key(clientID string) string { return r.e.prefix + "/sessions/" + clientID }

// SessionBatch is the most client IDs one ClaimAll or ReleaseAll takes:
// within etcd's 128 operations per transaction, each release's nested
// transaction counted.
const SessionBatch = etcdMaxTxnOps / 2

// ClaimAll records that this node holds the sessions of ids (distinct, at
// most SessionBatch) from now on, taking them over from any other node, in
// one transaction, and returns its revision: the claims' revision. While
// the last Probe found etcd unreachable it fails at once, as ReleaseAll
// does, with ErrUnreachable.
func (r *SessionRegistry) ClaimAll(ids []string) (int64, error) {
	if len(ids) > SessionBatch {
		return 0, fmt.Errorf("claim %d sessions at once: %w", len(ids), errTxnTooLarge)
	}
	if err := r.e.refuse(); err != nil {
		return 0, fmt.Errorf("claim %d sessions: %w", len(ids), err)
	}
	lease := r.currentLease()
	ops := make([]clientv3.Op, len(ids))
	for i, id := range ids {
		ops[i] = clientv3.OpPut(r.key(id), r.node, clientv3.WithLease(lease))
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.e.timeout)
	defer cancel()
	resp, err := r.e.cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return 0, fmt.Errorf("claim %d sessions: %w", len(ids), r.e.explain(err))
	}
	return resp.Header.Revision, nil
}

// ReclaimAll claims ids (distinct, at most SessionBatch) again after this
// node was cut off from etcd (its lease lost, or claims refused while
// offline), in one transaction, except those another node claimed
// meanwhile: their entries are left as they are, and taken names each of
// them with that node, whose session is the newer one. ClaimAll, by
// contrast, always takes over. rev is the revision of the claims made.
func (r *SessionRegistry) ReclaimAll(ids []string) (rev int64, taken map[string]string, err error) {
	if len(ids) > SessionBatch {
		return 0, nil, fmt.Errorf("claim %d sessions again at once: %w", len(ids), errTxnTooLarge)
	}
	if err := r.e.refuse(); err != nil {
		return 0, nil, fmt.Errorf("claim %d sessions again: %w", len(ids), err)
	}
	lease := r.currentLease()
	ops := make([]clientv3.Op, len(ids))
	for i, id := range ids {
		// Unclaimed, or still this node's: claimed; else the owner is read.
		k := r.key(id)
		put := clientv3.OpPut(k, r.node, clientv3.WithLease(lease))
		ops[i] = clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.Version(k), "=", 0)}, []clientv3.Op{put},
			[]clientv3.Op{clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.Value(k), "=", r.node)}, []clientv3.Op{put}, []clientv3.Op{clientv3.OpGet(k)})})
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.e.timeout)
	defer cancel()
	resp, err := r.e.cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return 0, nil, fmt.Errorf("claim %d sessions again: %w", len(ids), r.e.explain(err))
	}
	taken = map[string]string{}
	for i, op := range resp.Responses {
		outer := op.GetResponseTxn()
		if outer == nil || outer.Succeeded {
			continue
		}
		if inner := outer.Responses[0].GetResponseTxn(); inner != nil && !inner.Succeeded {
			if kvs := inner.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
				taken[ids[i]] = string(kvs[0].Value)
			}
		}
	}
	return resp.Header.Revision, taken, nil
}

// ReleaseAll removes the entries of ids (distinct, at most SessionBatch)
// that this node still holds, in one transaction: each is a nested
// transaction that deletes the entry only if it names this node, so a node
// whose session was taken over leaves the new owner's entry alone.
func (r *SessionRegistry) ReleaseAll(ids []string) error {
	if len(ids) > SessionBatch {
		return fmt.Errorf("release %d sessions at once: %w", len(ids), errTxnTooLarge)
	}
	if err := r.e.refuse(); err != nil {
		return fmt.Errorf("release %d sessions: %w", len(ids), err)
	}
	ops := make([]clientv3.Op, len(ids))
	for i, id := range ids {
		k := r.key(id)
		ops[i] = clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.Value(k), "=", r.node)}, []clientv3.Op{clientv3.OpDelete(k)}, nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.e.timeout)
	defer cancel()
	if _, err := r.e.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
		return fmt.Errorf("release %d sessions: %w", len(ids), r.e.explain(err))
	}
	return nil
}

// Owner returns the node that holds clientID's session, "" when none does.
func (r *SessionRegistry) Owner(clientID string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.e.timeout)
	defer cancel()
	resp, err := r.e.cli.Get(ctx, r.key(clientID))
	if err != nil {
		return "", fmt.Errorf("session owner of %q: %w", clientID, r.e.explain(err))
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}

// Watch calls fn for every claim any node makes, this one included, since
// the registry was opened, with the claim's revision, until ctx ends (then
// it returns nil). While etcd is unreachable the watch waits and resumes.
func (r *SessionRegistry) Watch(ctx context.Context, fn func(clientID, node string, rev int64)) error {
	root := r.e.prefix + "/sessions/"
	from := r.opened + 1
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		for resp := range r.e.cli.Watch(wctx, root, clientv3.WithPrefix(), clientv3.WithRev(from), clientv3.WithFilterDelete()) {
			if resp.Err() != nil {
				if resp.CompactRevision > 0 {
					from = resp.CompactRevision // claims in the lost history are past
				}
				break
			}
			for _, ev := range resp.Events {
				fn(strings.TrimPrefix(string(ev.Kv.Key), root), string(ev.Kv.Value), ev.Kv.ModRevision)
				from = ev.Kv.ModRevision + 1
			}
		}
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(watchRetry):
		}
	}
	return nil
}

// Close stops renewing the lease and revokes it: this node's entries go at
// once.
func (r *SessionRegistry) Close() error {
	r.stop()
	<-r.done
	ctx, cancel := context.WithTimeout(context.Background(), r.e.timeout)
	defer cancel()
	if _, err := r.e.cli.Revoke(ctx, r.currentLease()); err != nil {
		return fmt.Errorf("close session registry of node %s: %w", r.node, r.e.explain(err))
	}
	return nil
}
