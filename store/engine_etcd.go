package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

const (
	// DefaultEtcdPrefix is the key prefix of a store in etcd when
	// EtcdConfig.Prefix is empty.
	DefaultEtcdPrefix = "/gatehouse"
	// DefaultEtcdTimeout bounds one etcd transaction, and the dial, when
	// EtcdConfig.Timeout is zero: an unreachable etcd is an error, not a hang.
	DefaultEtcdTimeout = 5 * time.Second
	// etcdAttempts bounds how often update retries a transaction that lost
	// a race before it gives up with ErrConflict.
	etcdAttempts = 16
	// etcdPage is how many keys one range read of a scan fetches, after a
	// first read of etcdFirstPage: most scans that stop early (the event
	// log's ends, a newest-first listing) then fetch a few values, not 256.
	etcdPage      = 256
	etcdFirstPage = 16
	// etcdMaxTxnOps is etcd's default bound on the operations of one Txn
	// (--max-txn-ops), its conditions and its writes each; an update keeps
	// within it or fails before it is sent.
	etcdMaxTxnOps = 128
	// etcdReservedOps is the part of etcdMaxTxnOps that maxWrites keeps back
	// for the deletion marks (one per bucket an update deletes from) that
	// the engine adds to an update's own writes.
	etcdReservedOps = 8
)

// etcdReconnect bounds the pause between the client's attempts to reach an
// etcd that went away at etcdReconnectMax, instead of gRPC's 120 s: a node
// catches up within seconds of etcd's return, as offline mode promises.
var etcdReconnect = grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: etcdReconnectMax},
	MinConnectTimeout: DefaultEtcdTimeout,
}

// etcdReconnectMax is the longest pause between two attempts to reach etcd.
const etcdReconnectMax = 2 * time.Second

// errTxnTooLarge is an update bigger than etcd takes in one transaction;
// it is refused before anything is sent, and retrying cannot help.
var errTxnTooLarge = fmt.Errorf("more than etcd's %d operations in one transaction", etcdMaxTxnOps)

// EtcdConfig configures OpenEtcd.
type EtcdConfig struct {
	Endpoints []string    // etcd client URLs, e.g. https://10.0.0.1:2379
	TLS       *tls.Config // client TLS (CA, certificate and key); nil for plain TCP
	// Prefix is the key prefix of this store: a bucket's key k is stored as
	// PREFIX/<bucket>/<k>, its sequence as PREFIX/_seq/<bucket> and its
	// deletion mark (see etcdTxn) as PREFIX/_del/<bucket>.
	Prefix  string
	Timeout time.Duration // per transaction; DefaultEtcdTimeout when zero
	// ReadOnly refuses writes, runs no migration and refuses a store whose
	// schema is older than SchemaVersion, as Options.ReadOnly does.
	ReadOnly bool
	// Node, when set, names the cluster node that opens the store: its
	// event log is then its own (PREFIX/events@NODE/), which it alone
	// appends to and lists.
	Node string
}

// OpenEtcd opens the store kept in etcd under cfg.Prefix, creating its
// schema when the prefix is empty and migrating an older one, in one
// transaction, as Open does for a file. Several processes may open the same
// store: every update is an optimistic transaction that commits only if
// nothing it read changed meanwhile, and is retried otherwise.
func OpenEtcd(cfg EtcdConfig) (*Store, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("open etcd store: no endpoints")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultEtcdTimeout
	}
	prefix := strings.TrimRight(cfg.Prefix, "/")
	if prefix == "" {
		prefix = DefaultEtcdPrefix
	}
	name := "etcd:" + strings.Join(cfg.Endpoints, ",") + prefix
	// The client's own log would repeat, as JSON on stderr, the errors
	// that the store returns with context.
	cli, err := clientv3.New(clientv3.Config{Endpoints: cfg.Endpoints, TLS: cfg.TLS, DialTimeout: cfg.Timeout, Logger: zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(etcdReconnect)}})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", name, err)
	}
	e := &etcdEngine{cli: cli, prefix: prefix, timeout: cfg.Timeout, readOnly: cfg.ReadOnly}
	if cfg.ReadOnly {
		err = e.view(func(t txn) error {
			err := readableSchema(t, name)
			e.opened = t.(*etcdTxn).rev
			return err
		})
	} else {
		err = e.create(name)
	}
	if err != nil {
		_ = cli.Close()
		return nil, err
	}
	e.applied.Store(e.opened)
	events := sharedEventLog
	if cfg.Node != "" {
		events = nodeEventLog(cfg.Node)
	}
	return &Store{eng: e, path: name, readOnly: cfg.ReadOnly, events: events}, nil
}

// etcdEngine is the engine on etcd's key space under prefix. Keys sort in
// etcd as bytes, as in bbolt, so scans see the same order.
type etcdEngine struct {
	// mu serialises this process's updates, as bbolt does: they would
	// otherwise race each other for the shared keys (the audit sequence
	// above all) and spend their attempts losing to their own process.
	// Only other processes' writes make a transaction retry.
	mu sync.Mutex
	// logMu serialises the event log's appends (updateLog), apart from mu:
	// they share no key with the other updates.
	logMu    sync.Mutex
	cli      *clientv3.Client
	prefix   string
	opened   int64 // the revision the store was opened at; Watch starts after it
	timeout  time.Duration
	readOnly bool
	applied  atomic.Int64 // the revision Watch has applied up to (cluster.go)
	health   etcdHealth   // what the last Probe found (cluster.go)
}

// create initialises or migrates the store. A prefix that holds keys but no
// schema version is not a gatehouse store, and is refused as ErrCorrupt.
func (e *etcdEngine) create(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	defer cancel()
	resp, err := e.cli.Get(ctx, e.prefix+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return fmt.Errorf("open store %s: %w", name, e.explain(err))
	}
	e.opened = resp.Header.Revision
	return e.update(func(t txn) error {
		raw, err := t.get(bucketMeta, keySchema)
		if err != nil {
			return err
		}
		if raw == nil {
			if resp.Count > 0 {
				return fmt.Errorf("open store %s: %w: keys under the prefix but no gatehouse schema version", name, ErrCorrupt)
			}
			if err := t.put(bucketMeta, keySchema, []byte("1")); err != nil {
				return err
			}
		}
		return upgrade(t, name)
	})
}

func (e *etcdEngine) close() error { return e.cli.Close() }

// explain names the timeout when etcd did not answer in time: the client
// says only "context deadline exceeded".
func (e *etcdEngine) explain(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("etcd did not answer within %s: %w", e.timeout, err)
	}
	return err
}

func (e *etcdEngine) maxWrites() int { return etcdMaxTxnOps - etcdReservedOps }

// view bounds each read by the timeout, not the whole view: a bulk read (every
// certificate state at start, a reload after the watch fell behind) pages
// through as many keys as the store holds.
func (e *etcdEngine) view(fn func(t txn) error) error {
	if err := e.refuse(); err != nil {
		return err
	}
	return fn(e.begin(context.Background()))
}

// update runs fn on a fresh snapshot and commits its writes if no key it
// read has changed since; a lost race runs fn again, up to etcdAttempts
// times, after a short random pause that keeps racing writers apart.
func (e *etcdEngine) update(fn func(t txn) error) error { return e.serialised(&e.mu, fn) }

func (e *etcdEngine) updateLog(fn func(t txn) error) error { return e.serialised(&e.logMu, fn) }

// serialised runs update's attempts holding mu, within the timeout from the
// call: a write queued behind others never waits longer in all, and one
// queued when etcd stopped answering is refused once the probe noticed,
// instead of waiting for its own timeout after each write ahead of it.
func (e *etcdEngine) serialised(mu *sync.Mutex, fn func(t txn) error) error {
	if e.readOnly {
		return errors.New("store is open read-only")
	}
	if err := e.refuse(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	defer cancel()
	mu.Lock()
	defer mu.Unlock()
	for attempt := 1; ; attempt++ {
		if err := e.refuse(); err != nil {
			return err
		}
		ok, err := e.attempt(ctx, fn)
		if err != nil || ok {
			return err
		}
		if attempt == etcdAttempts {
			return fmt.Errorf("etcd transaction lost %d races in a row: %w", attempt, ErrConflict)
		}
		time.Sleep(time.Duration(rand.Int64N(int64(attempt) * int64(2*time.Millisecond))))
	}
}

func (e *etcdEngine) attempt(ctx context.Context, fn func(t txn) error) (bool, error) {
	t := e.begin(ctx)
	t.writable = true
	if err := fn(t); err != nil {
		return false, err
	}
	return t.commit()
}

func (e *etcdEngine) begin(ctx context.Context) *etcdTxn {
	return &etcdTxn{e: e, ctx: ctx, reads: map[string]int64{}, writes: map[string]write{}}
}

// bucketPrefix is where bucket's keys live: PREFIX/<bucket>/.
func (e *etcdEngine) bucketPrefix(bucket []byte) string {
	return e.prefix + "/" + string(bucket) + "/"
}

// write is one buffered write: a value, or a deletion.
type write struct {
	value   []byte
	deleted bool
}

// etcdTxn reads one snapshot (the revision of its first read) and buffers
// its writes. Each key read is recorded with its mod revision and each range
// scanned with the snapshot revision; commit sends the writes in one etcd
// Txn whose conditions are that those keys still have the revisions read and
// that no key of those ranges was written since. A key deleted from a
// scanned range leaves no revision to compare, so a deletion also writes the
// bucket's deletion mark (PREFIX/_del/<bucket>) and a writable scan reads
// it: a racing deletion anywhere in the bucket fails the commit, which is
// then retried on a fresh snapshot.
type etcdTxn struct {
	e        *etcdEngine
	ctx      context.Context
	rev      int64 // the snapshot; 0 until the first read
	writable bool
	reads    map[string]int64 // key -> its mod revision in the snapshot (0: absent)
	ranges   []clientv3.Cmp
	writes   map[string]write
	// committed is the revision commit wrote at; 0 before, or when it had
	// nothing to write.
	committed int64
}

// commitRevision is the revision at which t, a transaction that committed,
// wrote: etcd's; 0 on a bbolt transaction, whose file has no revisions.
func commitRevision(t txn) int64 {
	if et, ok := t.(*etcdTxn); ok {
		return et.committed
	}
	return 0
}

func (t *etcdTxn) read(key, end string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	if end != "" {
		opts = append(opts, clientv3.WithRange(end))
	}
	if t.rev > 0 {
		opts = append(opts, clientv3.WithRev(t.rev))
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.e.timeout)
	defer cancel()
	resp, err := t.e.cli.Get(ctx, key, opts...)
	if errors.Is(err, rpctypes.ErrCompacted) {
		return nil, fmt.Errorf("etcd read %q at revision %d: %w", key, t.rev, ErrCompacted)
	}
	if err != nil {
		return nil, fmt.Errorf("etcd read %q: %w", key, t.e.explain(err))
	}
	if t.rev == 0 {
		t.rev = resp.Header.Revision
	}
	return resp, nil
}

func (t *etcdTxn) getKey(key string) ([]byte, error) {
	if w, ok := t.writes[key]; ok {
		return w.value, nil
	}
	resp, err := t.read(key, "")
	if err != nil {
		return nil, err
	}
	var value []byte
	rev := int64(0)
	if len(resp.Kvs) > 0 {
		value, rev = present(resp.Kvs[0].Value), resp.Kvs[0].ModRevision
	}
	if _, seen := t.reads[key]; !seen {
		t.reads[key] = rev
	}
	return value, nil
}

func (t *etcdTxn) putKey(key string, w write) error {
	if !t.writable {
		return errors.New("write in a read transaction")
	}
	t.writes[key] = w
	return nil
}

func (t *etcdTxn) get(bucket, key []byte) ([]byte, error) {
	return t.getKey(t.e.bucketPrefix(bucket) + string(key))
}

func (t *etcdTxn) put(bucket, key, value []byte) error {
	return t.putKey(t.e.bucketPrefix(bucket)+string(key), write{value: append([]byte{}, value...)})
}

// present makes an empty value found in etcd, which the client hands over
// as nil, non-nil: nil means no key, as in bbolt.
func present(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

func (t *etcdTxn) del(bucket, key []byte) error {
	if err := t.putKey(t.e.bucketPrefix(bucket)+string(key), write{deleted: true}); err != nil {
		return err
	}
	// Any value will do: the put gives the mark a new mod revision.
	return t.putKey(t.delMarkKey(bucket), write{value: []byte("1")})
}

// delMarkKey is bucket's deletion mark, outside the bucket's own keys so
// that no scan of it sees the mark.
func (t *etcdTxn) delMarkKey(bucket []byte) string { return t.e.prefix + "/_del/" + string(bucket) }

// watchDeletes records the mod revision of bucket's deletion mark in the
// snapshot, once, even when this transaction has written the mark itself
// (getKey would then not record it), so that commit fails if another writer
// deleted a key of bucket since.
func (t *etcdTxn) watchDeletes(bucket []byte) error {
	key := t.delMarkKey(bucket)
	if _, seen := t.reads[key]; seen {
		return nil
	}
	resp, err := t.read(key, "")
	if err != nil {
		return err
	}
	rev := int64(0)
	if len(resp.Kvs) > 0 {
		rev = resp.Kvs[0].ModRevision
	}
	t.reads[key] = rev
	return nil
}

func (t *etcdTxn) seqKey(bucket []byte) string { return t.e.prefix + "/_seq/" + string(bucket) }

func (t *etcdTxn) nextSequence(bucket []byte) (uint64, error) {
	raw, err := t.getKey(t.seqKey(bucket))
	if err != nil {
		return 0, err
	}
	n := uint64(0)
	if raw != nil {
		if n, err = strconv.ParseUint(string(raw), 10, 64); err != nil {
			return 0, fmt.Errorf("sequence of %s: %w: %q", bucket, ErrCorrupt, raw)
		}
	}
	return n + 1, t.setSequence(bucket, n+1)
}

func (t *etcdTxn) setSequence(bucket []byte, n uint64) error {
	return t.putKey(t.seqKey(bucket), write{value: []byte(strconv.FormatUint(n, 10))})
}

// scan merges the snapshot's keys, read a page at a time, with the
// transaction's own writes, and records the range it covered.
func (t *etcdTxn) scan(bucket, from []byte, reverse bool, fn func(k, v []byte) (bool, error)) error {
	if t.writable {
		if err := t.watchDeletes(bucket); err != nil {
			return err
		}
	}
	bp := t.e.bucketPrefix(bucket)
	lo, hi := bp, clientv3.GetPrefixRangeEnd(bp)
	switch {
	case from != nil && reverse:
		hi = bp + string(from) + "\x00"
	case from != nil:
		lo = bp + string(from)
	}
	var pending []string // this transaction's writes in [lo, hi), in scan order
	for k := range t.writes {
		if k >= lo && k < hi {
			pending = append(pending, k)
		}
	}
	slices.Sort(pending)
	order := clientv3.SortAscend
	if reverse {
		slices.Reverse(pending)
		order = clientv3.SortDescend
	}
	// covered is the part of [lo, hi) read so far; it becomes the recorded range.
	coveredLo, coveredHi := lo, hi
	defer func() {
		if t.rev > 0 {
			t.ranges = append(t.ranges, clientv3.Compare(clientv3.ModRevision(coveredLo), "<", t.rev+1).WithRange(coveredHi))
		}
	}()
	// visit hands one key to fn; stop ends the scan early and narrows the covered range.
	visit := func(k string, v []byte) (bool, error) {
		more, err := fn([]byte(k[len(bp):]), v)
		if err == nil && !more {
			if reverse {
				coveredLo = k
			} else {
				coveredHi = k + "\x00"
			}
		}
		return more, err
	}
	before := func(a, b string) bool { // a comes strictly before b in scan order
		if reverse {
			return a > b
		}
		return a < b
	}
	pageLo, pageHi, page := lo, hi, int64(etcdFirstPage)
	for ; ; page = etcdPage {
		resp, err := t.read(pageLo, pageHi, clientv3.WithSort(clientv3.SortByKey, order), clientv3.WithLimit(page))
		if err != nil {
			return err
		}
		for _, kv := range resp.Kvs {
			k := string(kv.Key)
			shadowed := false // the transaction wrote k: its write wins over the snapshot
			for len(pending) > 0 && !before(k, pending[0]) {
				p := pending[0]
				pending, shadowed = pending[1:], p == k
				if w := t.writes[p]; !w.deleted {
					if more, err := visit(p, w.value); err != nil || !more {
						return err
					}
				}
			}
			if shadowed {
				continue
			}
			if more, err := visit(k, present(kv.Value)); err != nil || !more {
				return err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		last := string(resp.Kvs[len(resp.Kvs)-1].Key)
		if reverse {
			pageHi = last
		} else {
			pageLo = last + "\x00"
		}
	}
	for _, k := range pending {
		if w := t.writes[k]; !w.deleted {
			if more, err := visit(k, w.value); err != nil || !more {
				return err
			}
		}
	}
	return nil
}

// commit sends the buffered writes in one Txn conditioned on the reads;
// false means a racing writer changed something read, and nothing was
// written.
func (t *etcdTxn) commit() (bool, error) {
	if len(t.writes) == 0 {
		return true, nil
	}
	cmps := make([]clientv3.Cmp, 0, len(t.reads)+len(t.ranges))
	for k, rev := range t.reads {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", rev))
	}
	cmps = append(cmps, t.ranges...)
	if len(cmps) > etcdMaxTxnOps || len(t.writes) > etcdMaxTxnOps {
		return false, fmt.Errorf("etcd transaction of %d writes and %d conditions: %w", len(t.writes), len(cmps), errTxnTooLarge)
	}
	ops := make([]clientv3.Op, 0, len(t.writes))
	for k, w := range t.writes {
		if w.deleted {
			ops = append(ops, clientv3.OpDelete(k))
		} else {
			ops = append(ops, clientv3.OpPut(k, string(w.value)))
		}
	}
	resp, err := t.e.cli.Txn(t.ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return false, fmt.Errorf("etcd commit of %d writes: %w", len(ops), t.e.explain(err))
	}
	if resp.Succeeded {
		t.committed = resp.Header.Revision
	}
	return resp.Succeeded, nil
}
