package store

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// boltEngine is the engine on one bbolt file, each bucket a bbolt bucket.
// Every transaction runs under guard, which turns bbolt's panics on damaged
// pages into ErrCorrupt naming the file.
type boltEngine struct {
	db   *bolt.DB
	path string
}

func (e *boltEngine) view(fn func(t txn) error) error {
	return guard(e.path, func() error { return e.db.View(func(tx *bolt.Tx) error { return fn(boltTxn{tx}) }) })
}

// update is view's write counterpart; on a read-only file bbolt refuses it
// with ErrDatabaseReadOnly.
func (e *boltEngine) update(fn func(t txn) error) error {
	return guard(e.path, func() error { return e.db.Update(func(tx *bolt.Tx) error { return fn(boltTxn{tx}) }) })
}

// updateLog is update: bbolt has one writer, and its appends are quick.
func (e *boltEngine) updateLog(fn func(t txn) error) error { return e.update(fn) }

func (e *boltEngine) close() error { return e.db.Close() }

func (e *boltEngine) maxWrites() int { return 0 }

// boltTxn is a bbolt transaction. Readers tolerate a missing bucket (a
// read-only open creates none); a write creates the bucket it needs.
type boltTxn struct{ tx *bolt.Tx }

func (t boltTxn) get(bucket, key []byte) ([]byte, error) {
	b := t.tx.Bucket(bucket)
	if b == nil {
		return nil, nil
	}
	return b.Get(key), nil
}

func (t boltTxn) writable(bucket []byte) (*bolt.Bucket, error) {
	if b := t.tx.Bucket(bucket); b != nil {
		return b, nil
	}
	return t.tx.CreateBucketIfNotExists(bucket)
}

func (t boltTxn) put(bucket, key, value []byte) error {
	b, err := t.writable(bucket)
	if err != nil {
		return err
	}
	return b.Put(key, value)
}

func (t boltTxn) del(bucket, key []byte) error {
	b := t.tx.Bucket(bucket)
	if b == nil {
		return nil
	}
	return b.Delete(key)
}

func (t boltTxn) scan(bucket, from []byte, reverse bool, fn func(k, v []byte) (bool, error)) error {
	b := t.tx.Bucket(bucket)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	var k, v []byte
	switch {
	case from == nil && reverse:
		k, v = c.Last()
	case from == nil:
		k, v = c.First()
	case reverse:
		if k, v = c.Seek(from); k == nil {
			k, v = c.Last()
		} else if bytes.Compare(k, from) > 0 {
			k, v = c.Prev()
		}
	default:
		k, v = c.Seek(from)
	}
	for k != nil {
		more, err := fn(k, v)
		if err != nil || !more {
			return err
		}
		if reverse {
			k, v = c.Prev()
		} else {
			k, v = c.Next()
		}
	}
	return nil
}

func (t boltTxn) nextSequence(bucket []byte) (uint64, error) {
	b, err := t.writable(bucket)
	if err != nil {
		return 0, err
	}
	return b.NextSequence()
}

func (t boltTxn) setSequence(bucket []byte, n uint64) error {
	b, err := t.writable(bucket)
	if err != nil {
		return err
	}
	return b.SetSequence(n)
}
