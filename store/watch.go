package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// watchRetry is the pause before a failed watch is started again.
const watchRetry = 500 * time.Millisecond

// ChangeKind says which shared record a Change is about.
type ChangeKind int

// The records Watch reports. Audit records, persisted events, issued-token
// records and sequence counters are not reported: no node applies them.
const (
	ChangedCert         ChangeKind = iota + 1 // Key is the certificate ID
	ChangedSettings                           // the settings record
	ChangedPolicy                             // the authorization policy
	ChangedBlockedKeys                        // Key is the SPKI hash
	ChangedCA                                 // Key is the CA ID
	ChangedTokenSubject                       // Key is the token subject
	ChangedTokenRevoked                       // Key is the revoked jti
	ChangedTokenKeys                          // Key is the key ID
	// ChangedAll means the watch lost some history (etcd compacted it while
	// the watch was behind): reload everything.
	ChangedAll
)

// Change is one record a transaction wrote or deleted, with what it wrote:
// a node applies the changes in commit order from their values, without
// reading etcd again, so that two quick changes of one record (a suspend,
// then a reactivation) both apply.
type Change struct {
	Kind ChangeKind
	Key  string
	// Value is the record as the transaction wrote it (see DecodeCert);
	// nil when it deleted the record, and for ChangedAll.
	Value []byte
	// Rev is the revision of the transaction (etcd's mod revision): it
	// orders the writes of every node.
	Rev int64
}

// DecodeCert returns the certificate record a ChangedCert change wrote,
// with Revision set to the change's. A deleted record is an error wrapping
// ErrNotFound; one that does not decode, ErrCorrupt.
func DecodeCert(ch Change) (Cert, error) {
	c, err := decodeChange[Cert](ch, ChangedCert, "certificate")
	if err != nil {
		return Cert{}, err
	}
	c.Revision = ch.Rev
	return c, nil
}

// DecodeTokenSubject returns the token subject record a
// ChangedTokenSubject change wrote, with Revision set to the change's;
// errors as DecodeCert's.
func DecodeTokenSubject(ch Change) (TokenSubject, error) {
	r, err := decodeChange[TokenSubject](ch, ChangedTokenSubject, "token subject")
	if err != nil {
		return TokenSubject{}, err
	}
	r.Revision = ch.Rev
	return r, nil
}

// decodeChange decodes the record of kind that ch wrote, named what in
// errors; on an error it returns the zero record.
func decodeChange[T any](ch Change, kind ChangeKind, what string) (T, error) {
	var zero, v T
	if ch.Kind != kind {
		return zero, fmt.Errorf("decode %s %s: the change is of kind %d", what, ch.Key, ch.Kind)
	}
	if ch.Value == nil {
		return zero, fmt.Errorf("decode %s %s: deleted: %w", what, ch.Key, ErrNotFound)
	}
	if err := decode(ch.Value, &v, what, []byte(ch.Key)); err != nil {
		return zero, err
	}
	return v, nil
}

// watchedBuckets maps the buckets whose changes nodes apply to their kind.
var watchedBuckets = map[string]ChangeKind{
	string(bucketCerts):       ChangedCert,
	string(bucketSettings):    ChangedSettings,
	string(bucketPolicy):      ChangedPolicy,
	string(bucketBlockedKeys): ChangedBlockedKeys,
	string(bucketCA):          ChangedCA,
	string(tokensSubjects):    ChangedTokenSubject,
	string(tokensRevoked):     ChangedTokenRevoked,
	string(tokensKeys):        ChangedTokenKeys,
}

// Watch calls fn with the changes committed to the store by any process,
// this one included, since it was opened, in commit order, until ctx ends
// (then it returns nil). It is how the nodes of a cluster apply each other's
// suspends, revokes, auth switches and policy edits. fn runs on Watch's
// goroutine; while etcd is unreachable the watch waits and then resumes
// where it stopped. An error from fn means the changes were not all applied
// (a read they need failed): the watch stays where it was and delivers them
// again after a pause, so fn must be able to apply a change twice. On a
// bbolt store, which only this process writes, Watch returns an error
// wrapping errors.ErrUnsupported at once.
func (s *Store) Watch(ctx context.Context, fn func([]Change) error) error {
	e, ok := s.eng.(*etcdEngine)
	if !ok {
		return fmt.Errorf("watch store %s: %w: a store file has one writer", s.path, errors.ErrUnsupported)
	}
	root := e.prefix + "/"
	from := e.opened + 1
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		ch := e.cli.Watch(wctx, root, clientv3.WithPrefix(), clientv3.WithRev(from))
		for resp := range ch {
			if errors.Is(resp.Err(), rpctypes.ErrCompacted) {
				if fn([]Change{{Kind: ChangedAll}}) == nil {
					from = resp.CompactRevision
					e.markApplied(from - 1)
				}
				break
			}
			if err := resp.Err(); err != nil {
				break // the channel closes; the watch starts again from `from`
			}
			var changes []Change
			next := from
			for _, ev := range resp.Events {
				bucket, key, _ := strings.Cut(strings.TrimPrefix(string(ev.Kv.Key), root), "/")
				if kind, ok := watchedBuckets[bucket]; ok {
					ch := Change{Kind: kind, Key: key, Rev: ev.Kv.ModRevision}
					if ev.Type == mvccpb.PUT {
						ch.Value = present(ev.Kv.Value)
					}
					changes = append(changes, ch)
				}
				next = ev.Kv.ModRevision + 1
			}
			if len(changes) > 0 && fn(changes) != nil {
				break // the watch starts again from `from`: these changes come again
			}
			from = next
			// The node's watch position: every change under the prefix up
			// to it is applied. A progress notification (sent only once the
			// watch caught up) moves it to etcd's head.
			e.markApplied(from - 1)
			if resp.IsProgressNotify() {
				e.markApplied(resp.Header.Revision)
			}
		}
		cancel()
		select { // a pause, so that an etcd refusing the watch is not asked in a busy loop
		case <-ctx.Done():
		case <-time.After(watchRetry):
		}
	}
	return nil
}
