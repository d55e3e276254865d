// Package store persists Gatehouse's certificates, CAs, settings and audit log
// in a single bbolt file (Open), or in etcd for a cluster (OpenEtcd). The
// methods are written once on a small transactional key-value engine
// (engine.go) that both implement.
//
// Concurrency contract: a *Store is safe for concurrent use by many
// goroutines. Every exported method runs exactly one transaction, so a
// record is never half-written and an audit record is committed together with
// the change it describes. Values returned by the store are copies: nothing
// returned references memory owned by bbolt. UpdateSettings runs its callback inside the write
// transaction, so that callback must not call the store; on etcd it may run
// more than once, when the transaction lost a race and is retried.
//
// Only one process may open a file at a time: bbolt holds an exclusive
// flock, and Open turns a lock timeout into an error wrapping ErrLocked.
// Any number of processes may open the same etcd store.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DefaultTimeout is how long Open waits for the file lock when Options.Timeout is zero.
const DefaultTimeout = time.Second

var (
	bucketMeta     = []byte("meta")
	bucketCA       = []byte("ca")
	bucketCerts    = []byte("certs")
	bucketSettings = []byte("settings")
	bucketAudit    = []byte("audit")
	// bucketBlockedKeys holds BlockedKey records by SPKI hash. Readers
	// tolerate its absence (a read-only open does not create buckets).
	bucketBlockedKeys = []byte("blocked_keys")
	bucketEvents      = []byte("events")

	allBuckets = [][]byte{bucketMeta, bucketCA, bucketCerts, bucketSettings, bucketAudit, bucketBlockedKeys, bucketEvents}

	keySchema   = []byte("schema_version")
	keySettings = []byte("settings")
)

// Options configure Open.
type Options struct {
	// Timeout bounds the wait for the file lock; DefaultTimeout when zero.
	Timeout time.Duration
	// MustExist refuses a missing file with an error wrapping ErrNoStore
	// instead of creating a new, empty store.
	MustExist bool
	// ReadOnly opens an existing store without ever writing to it: bbolt
	// takes a shared lock, no bucket is created and no migration runs, so the
	// file's bytes stay as they were. It implies MustExist, and a store whose
	// schema is older than SchemaVersion is refused with a message saying how
	// to upgrade it. Write methods then fail.
	ReadOnly bool
}

// Store is an open Gatehouse database.
type Store struct {
	eng      engine
	db       *bolt.DB // the file, for what only bbolt has (Backup, Compact, the page check); nil on etcd
	path     string   // the file, or "etcd:ENDPOINTS/PREFIX"
	readOnly bool
	events   eventLog
}

// lockedError names the locked file while matching ErrLocked with errors.Is.
type lockedError struct{ path string }

// Error names the file, as the operator needs to find the other process.
func (e *lockedError) Error() string {
	return fmt.Sprintf("store %s is locked by another process", e.path)
}

// Is makes errors.Is(err, ErrLocked) hold.
func (e *lockedError) Is(target error) bool { return target == ErrLocked }

// Open opens or creates the database at path. It creates the parent directory
// (0700) and the file (0600) when missing (unless opts say it must exist) and
// all buckets in one transaction, then runs the pending migrations. A file
// held by another process yields an error wrapping ErrLocked; a damaged,
// empty, truncated or foreign file yields an error wrapping ErrCorrupt, never
// a panic and never a fresh store.
func Open(path string, opts Options) (*Store, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MustExist || opts.ReadOnly {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("open store %s: %w", path, ErrNoStore)
		}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db, err := openBolt(path, opts.Timeout, opts.ReadOnly)
	if err != nil {
		return nil, err
	}
	if opts.ReadOnly {
		err = checkReadable(db, path)
	} else {
		err = initSchema(db, path)
	}
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &Store{eng: &boltEngine{db: db, path: path}, db: db, path: path, readOnly: opts.ReadOnly, events: sharedEventLog}, nil
}

// ReadOnly reports whether the store was opened with Options.ReadOnly.
func (s *Store) ReadOnly() bool { return s.readOnly }

// openBolt opens the bbolt file, converting bbolt's errors and panics on
// damaged files into ErrLocked or ErrCorrupt.
func openBolt(path string, timeout time.Duration, readOnly bool) (db *bolt.DB, err error) {
	var file *os.File
	openFile := func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		file = f
		return f, err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			// bbolt panicked half-way through Open. Closing the file is all
			// that can be done; its mmap may keep the lock until exit.
			if file != nil {
				_ = file.Close()
			}
			db, err = nil, fmt.Errorf("open store %s: %w: %v", path, ErrCorrupt, r)
		}
	}()
	if err := precheck(path, timeout); err != nil {
		return nil, err
	}
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, OpenFile: openFile, ReadOnly: readOnly})
	switch {
	case err == nil && replaced(path, file):
		_ = db.Close()
		return nil, &lockedError{path: path}
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, &lockedError{path: path}
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrInvalidMapping):
		return nil, fmt.Errorf("open store %s: %w: %v", path, ErrCorrupt, err)
	default:
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
}

// initSchema validates the meta bucket and creates missing buckets in one
// transaction. It is the first transaction on a file, so it also converts
// bbolt panics on damaged pages into ErrCorrupt.
func initSchema(db *bolt.DB, path string) error {
	return guard(path, func() error {
		return db.Update(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			if meta == nil {
				foreign := false
				if err := tx.ForEach(func([]byte, *bolt.Bucket) error { foreign = true; return nil }); err != nil {
					return err
				}
				if foreign {
					return fmt.Errorf("open store %s: %w: bbolt file without a gatehouse meta bucket", path, ErrCorrupt)
				}
				m, err := tx.CreateBucket(bucketMeta)
				if err != nil {
					return fmt.Errorf("open store %s: create meta bucket: %w", path, err)
				}
				if err := m.Put(keySchema, []byte("1")); err != nil {
					return fmt.Errorf("open store %s: write schema version: %w", path, err)
				}
			}
			if _, err := checkSchema(tx.Bucket(bucketMeta).Get(keySchema), path); err != nil {
				return err
			}
			for _, name := range allBuckets {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return fmt.Errorf("open store %s: create bucket %s: %w", path, name, err)
				}
			}
			return upgrade(boltTxn{tx}, path)
		})
	})
}

// upgrade reads the schema version and runs the migrations past it.
func upgrade(t txn, path string) error {
	raw, err := t.get(bucketMeta, keySchema)
	if err != nil {
		return err
	}
	version, err := checkSchema(raw, path)
	if err != nil {
		return err
	}
	return migrate(t, version, path)
}

// checkReadable is initSchema for a read-only open: it validates the meta
// bucket and schema version and changes nothing. Readers tolerate missing
// buckets, but an older schema is refused: its records are laid out as this
// build no longer reads them, and only a read-write open migrates.
func checkReadable(db *bolt.DB, path string) error {
	return guard(path, func() error {
		return db.View(func(tx *bolt.Tx) error {
			if tx.Bucket(bucketMeta) == nil {
				return fmt.Errorf("open store %s: %w: bbolt file without a gatehouse meta bucket", path, ErrCorrupt)
			}
			return readableSchema(boltTxn{tx}, path)
		})
	})
}

// readableSchema refuses a schema this build cannot read, or one that only a
// read-write open would migrate.
func readableSchema(t txn, path string) error {
	raw, err := t.get(bucketMeta, keySchema)
	if err != nil {
		return err
	}
	version, err := checkSchema(raw, path)
	if err != nil {
		return err
	}
	if version < SchemaVersion {
		return fmt.Errorf("open store %s: schema version %d is older than this gatehouse's (%d): run 'gatehouse init' or 'gatehouse serve' once to upgrade it", path, version, SchemaVersion)
	}
	return nil
}

// checkSchema parses the stored schema version and refuses one this build
// cannot read.
func checkSchema(raw []byte, path string) (int, error) {
	v, err := strconv.Atoi(string(raw))
	if err != nil || v < 1 {
		return 0, fmt.Errorf("open store %s: %w: bad schema version %q", path, ErrCorrupt, raw)
	}
	if v > SchemaVersion {
		return 0, fmt.Errorf("open store %s: schema version %d is newer than this gatehouse supports (%d): upgrade gatehouse", path, v, SchemaVersion)
	}
	return v, nil
}

// Close releases the file and its lock, or the etcd connection.
func (s *Store) Close() error {
	if err := s.eng.close(); err != nil {
		return fmt.Errorf("close store %s: %w", s.path, err)
	}
	return nil
}

// Path returns the database file path given to Open; for an etcd store,
// "etcd:" and its endpoints and prefix.
func (s *Store) Path() string { return s.path }

// putJSON marshals v and stores it under key in bucket.
func putJSON(t txn, bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return t.put(bucket, key, raw)
}

// appendAudit assigns the next sequence number and writes a inside t.
func appendAudit(t txn, a *AuditRecord) error {
	seq, err := t.nextSequence(bucketAudit)
	if err != nil {
		return fmt.Errorf("audit sequence: %w", err)
	}
	a.Seq = seq
	if a.At.IsZero() {
		a.At = time.Now()
	}
	if err := putJSON(t, bucketAudit, seqKey(seq), a); err != nil {
		return fmt.Errorf("write audit %d: %w", seq, err)
	}
	return nil
}

func seqKey(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}
