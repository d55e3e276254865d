package store

import (
	"encoding/json"
	"fmt"
	"runtime/debug"
)

// view runs fn in a read transaction and update in a write transaction of
// the store's engine. Every exported method goes through one of them. On
// bbolt both run under guard: bbolt asserts its page invariants
// with panics and reads its file through an mmap, so a damaged page (or a file
// truncated under the map) would otherwise kill the process with a goroutine
// dump.
func (s *Store) view(fn func(t txn) error) error { return s.eng.view(fn) }

// update is view's write counterpart; on a read-only store it fails. On
// etcd fn may run more than once (see engine.update).
func (s *Store) update(fn func(t txn) error) error { return s.eng.update(fn) }

// guard runs fn, converting a panic or memory fault inside it into ErrCorrupt.
// A panicking bbolt transaction has not committed: bbolt rolls it back (or
// never wrote it) before the panic unwinds past it.
func guard(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("store %s: %w: %v", path, ErrCorrupt, r)
		}
	}()
	return fn()
}

// decode unmarshals a stored record. A record that does not decode is damage,
// not a caller's mistake, so the error wraps ErrCorrupt; the key is quoted so
// that binary garbage never reaches a terminal raw.
func decode(raw []byte, v any, what string, key []byte) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %s %q: %w: %v", what, key, ErrCorrupt, err)
	}
	return nil
}
