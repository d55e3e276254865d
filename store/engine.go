package store

// engine is the transactional key-value store the Store's methods are written
// on, once, whatever holds the data: a bbolt file (boltEngine, the default)
// or an etcd cluster (etcdEngine). Data lives in named buckets of ordered
// byte keys, as in bbolt.
type engine interface {
	// view runs fn in a read transaction: a consistent snapshot.
	view(fn func(t txn) error) error
	// update runs fn in a write transaction that commits when fn returns nil
	// and is discarded otherwise. fn may run more than once (etcd retries a
	// transaction that lost a race), so it must have effects only through t
	// and must reset what it captures at its start.
	update(fn func(t txn) error) error
	// updateLog is update for the writer of this process's event log, whose
	// keys no other update writes: etcd runs it beside the other updates
	// instead of queueing them behind it, so that a slow append never
	// delays a lifecycle change.
	updateLog(fn func(t txn) error) error
	// maxWrites is the most writes one update may buffer (0: no bound);
	// work larger than that is split into several complete updates.
	maxWrites() int
	close() error
}

// txn is one transaction of an engine. Values it returns are valid only
// until the transaction ends: callers copy or decode them. Writes are
// seen by the same transaction's later reads and scans.
type txn interface {
	// get returns the value of key in bucket, nil when there is none.
	get(bucket, key []byte) ([]byte, error)
	put(bucket, key, value []byte) error
	del(bucket, key []byte) error
	// scan calls fn for each key of bucket in key order, from the first key
	// at or after from (nil: the first), or with reverse from the last key at
	// or before from (nil: the last) downwards, until fn returns false or an
	// error (which scan returns). fn must not write to the transaction.
	scan(bucket, from []byte, reverse bool, fn func(k, v []byte) (bool, error)) error
	// nextSequence increments and returns bucket's sequence number.
	nextSequence(bucket []byte) (uint64, error)
	setSequence(bucket []byte, n uint64) error
}

// forEach calls fn for every key of bucket in order.
func forEach(t txn, bucket []byte, fn func(k, v []byte) error) error {
	return t.scan(bucket, nil, false, func(k, v []byte) (bool, error) { return true, fn(k, v) })
}
