package store

import (
	"errors"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the whole database to w from one read
// transaction, while writers carry on, and returns the bytes written. The
// copy holds the CA keys: callers must keep it private. An etcd store has
// no file to copy: it is backed up with etcd's own snapshot
// (etcdctl snapshot save), and Backup says so with an error wrapping
// errors.ErrUnsupported.
func (s *Store) Backup(w io.Writer) (int64, error) {
	if s.db == nil {
		return 0, fmt.Errorf("back up store %s: %w: an etcd store is backed up with 'etcdctl snapshot save'", s.path, errors.ErrUnsupported)
	}
	var n int64
	err := guard(s.path, func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			var err error
			n, err = tx.WriteTo(w)
			return err
		})
	})
	if err != nil {
		return n, fmt.Errorf("back up store %s: %w", s.path, err)
	}
	return n, nil
}
