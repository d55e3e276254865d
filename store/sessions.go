package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	e      *etcdEngine
	node   string
	lease  clientv3.LeaseID
	opened int64 // the revision the registry was opened at; Watch starts after it
	stop   context.CancelFunc
	done   chan struct{}
}

// Sessions opens node's session registry: it grants a lease of ttl, kept
// alive until Close. On a bbolt store, which one broker serves, it returns
// an error wrapping errors.ErrUnsupported.
func (s *Store) Sessions(node string, ttl time.Duration) (*SessionRegistry, error) {
	e, ok := s.eng.(*etcdEngine)
	if !ok {
		return nil, fmt.Errorf("session registry of %s: %w: a store file has one broker", s.path, errors.ErrUnsupported)
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	defer cancel()
	grant, err := e.cli.Grant(ctx, int64(ttl.Seconds()))
	if err != nil {
		return nil, fmt.Errorf("session registry of node %s: grant lease: %w", node, e.explain(err))
	}
	kctx, stop := context.WithCancel(context.Background())
	alive, err := e.cli.KeepAlive(kctx, grant.ID)
	if err != nil {
		stop()
		return nil, fmt.Errorf("session registry of node %s: keep lease alive: %w", node, e.explain(err))
	}
	r := &SessionRegistry{e: e, node: node, lease: grant.ID, opened: grant.Revision, stop: stop, done: make(chan struct{})}
	go func() { // the client needs its keep-alive answers read
		defer close(r.done)
		for range alive {
		}
	}()
	return r, nil
}

func (r *SessionRegistry) key(clientID string) string { return r.e.prefix + "/sessions/" + clientID }

// Claim records that this node holds clientID's session from now on,
// taking it over from any other node, and returns the claim's revision.
func (r *SessionRegistry) Claim(clientID string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.e.timeout)
	defer cancel()
	resp, err := r.e.cli.Put(ctx, r.key(clientID), r.node, clientv3.WithLease(r.lease))
	if err != nil {
		return 0, fmt.Errorf("claim session %q: %w", clientID, r.e.explain(err))
	}
	return resp.Header.Revision, nil
}

// Release removes clientID's entry if this node still holds it: a node
// whose session was taken over leaves the new owner's entry alone.
func (r *SessionRegistry) Release(clientID string) error {
	ctx, cancel := context.WithTimeout(context.Background(), r.e.timeout)
	defer cancel()
	k := r.key(clientID)
	_, err := r.e.cli.Txn(ctx).If(clientv3.Compare(clientv3.Value(k), "=", r.node)).Then(clientv3.OpDelete(k)).Commit()
	if err != nil {
		return fmt.Errorf("release session %q: %w", clientID, r.e.explain(err))
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
	if _, err := r.e.cli.Revoke(ctx, r.lease); err != nil {
		return fmt.Errorf("close session registry of node %s: %w", r.node, r.e.explain(err))
	}
	return nil
}
