package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// compactTxSize bounds the memory one compaction transaction takes.
const compactTxSize = 64 << 20

// Compact rewrites the store file at path with only its live records. bbolt
// never wipes the pages a transaction frees, so a replaced value (a CA key
// that was stored in the clear before it was encrypted) stays in the file,
// and in backups, which copy the file whole, until the file is rewritten.
//
// The copy goes to path+".compact", is synced, and is renamed over path while
// both files are locked, so a crash leaves the old file or the new one, and
// at worst a leftover copy that the next Compact replaces. The store must
// not be open in this process.
func Compact(path string, opts Options) (err error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	src, err := Open(path, opts)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, src.Close()) }()
	tmp := path + ".compact"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("compact store %s: %w", path, err)
	}
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: opts.Timeout})
	if err != nil {
		return fmt.Errorf("compact store %s: %w", path, err)
	}
	defer func() {
		if cerr := dst.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("compact store %s: %w", path, cerr))
		}
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if err := bolt.Compact(dst, src.db, compactTxSize); err != nil {
		return fmt.Errorf("compact store %s: %w", path, err)
	}
	if err := dst.Sync(); err != nil {
		return fmt.Errorf("compact store %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("compact store %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("compact store %s: %w", path, err)
	}
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// replaced reports whether path no longer names the file f, which happens
// when Compact renamed a new file over it while this process waited for
// the lock of the old one.
func replaced(path string, f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	pi, err := os.Stat(path)
	return err != nil || !os.SameFile(fi, pi)
}
